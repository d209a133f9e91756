"""Security headers on every response (flask-talisman): CSP, framing, sniffing, referrer, HTTPS."""

import re
from urllib.parse import urlsplit

import flask
from flask_talisman import Talisman

# Pages load only their own scripts and styles: no inline script, no style attributes.
BASE_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# The origin leaves for other sites (map tiles ask for a referrer); the path never does.
REFERRER_POLICY = "strict-origin-when-cross-origin"
PERMISSIONS_POLICY = {
    "geolocation": "(self)",
    "camera": "()",
    "microphone": "()",
    "browsing-topics": "()",
}
_PLACEHOLDER = re.compile(r"\{[^}]*\}")


class _Talisman(Talisman):
    """Talisman, but a view may send a stricter Referrer-Policy (manage links send none), and
    a policy's header text is built once, not on every response."""

    def _set_referrer_policy_headers(self, headers):
        headers.setdefault("Referrer-Policy", self.referrer_policy)

    def _parse_policy(self, policy):
        # The text depends on the policy and on a nonce (connect asks for none); building it
        # anew cost ~10 us per response.
        if hasattr(flask.request, "csp_nonce") or not isinstance(policy, dict):
            return super()._parse_policy(policy)
        texts = self.__dict__.setdefault("_policy_texts", {})
        try:
            key = tuple(policy.items())
            return texts[key]
        except TypeError:  # a list among the sources: not a key
            return super()._parse_policy(policy)
        except KeyError:
            text = texts[key] = super()._parse_policy(policy)
            return text


def tile_origin(tile_url):
    """The CSP source of a Leaflet tile URL template: {s}.tile.example.org -> *.tile...."""
    parts = urlsplit(tile_url)
    if not parts.scheme or not parts.netloc:
        return None
    host = _PLACEHOLDER.sub("*", parts.netloc)
    return f"{parts.scheme}://{host}"


def content_security_policy(config):
    csp = dict(BASE_CSP)
    origin = tile_origin(config["MAP_TILE_URL"])
    if origin:
        csp["img-src"] += f" {origin}"
    return csp


def init_security_headers(app):
    """One Talisman per app: it keeps its options on the instance."""
    https = app.config["FORCE_HTTPS"]
    app.extensions["talisman"] = _Talisman(
        app,
        content_security_policy=content_security_policy(app.config),
        frame_options="DENY",
        referrer_policy=REFERRER_POLICY,
        permissions_policy=PERMISSIONS_POLICY,
        force_https=https,
        strict_transport_security=https,
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        session_cookie_http_only=app.config["SESSION_COOKIE_HTTPONLY"],
        session_cookie_samesite=app.config["SESSION_COOKIE_SAMESITE"],
    )
