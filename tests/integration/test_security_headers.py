"""Web security: headers on every kind of answer, pages without inline script or style,
cookies, CSRF on every page form, HTTPS when asked for, and the password rules."""

import html
import re
from urllib.parse import urlsplit

import pytest

from conftest import make_app, new_phone, request_payload

API = "/api/v1/requests"
PASSWORD = "mat-khau-dai"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: https://tile.openstreetmap.org; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*>', re.I)
CSRF_VALUE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"', re.I)
FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.I | re.S)
POST_FORM = re.compile(r'<form\b[^>]*method="post"', re.I)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
HANDLER_ATTR = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
STYLE_ATTR = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I)
STYLE_BLOCK = re.compile(r"<style[\s>]", re.I)
JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.I)
LINK = re.compile(r'href="(/[^"#]*)"')


def assert_security_headers(response, label="", referrer="strict-origin-when-cross-origin"):
    expected = {**HEADERS, "Referrer-Policy": referrer}
    seen = {name: response.headers.get(name) for name in expected}
    assert seen == expected, label
    assert "Strict-Transport-Security" not in response.headers, label  # off unless asked for


class Visitor:
    """A phone without JavaScript: cookies, and the CSRF token of the last page read."""

    def __init__(self, app, name="anonymous"):
        self.client = app.test_client()
        self.name = name
        self.token = None
        self.pages = {}  # label -> response of every HTML page read

    def get(self, path, label=None):
        response = self.client.get(path)
        self._keep(label or f"GET {path}", response)
        return response

    def post(self, path, data, label=None, token=True):
        if token and self.token is None:
            self.get("/login")
        data = {**data, **({"csrf_token": self.token} if token else {})}
        response = self.client.post(path, data=data)
        self._keep(label or f"POST {path}", response)
        return response

    def _keep(self, label, response):
        if response.status_code in (301, 302, 303):
            self.token = None  # logging in or out starts a new session
        elif response.mimetype == "text/html":
            self.pages[f"{self.name}: {label}"] = response
            match = CSRF_VALUE.search(response.get_data(as_text=True))
            if match:
                self.token = match.group(1)


def _register(visitor, **profile):
    number = new_phone()
    visitor.get("/register")
    response = visitor.post(
        "/register", {"name": "Lê Thị Hoa", "phone": number, "password": PASSWORD, "next": ""}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    visitor.get("/volunteer/profile")
    response = visitor.post(
        "/volunteer/profile",
        {
            "place": "",
            "lat": "21.2731",
            "lon": "106.1946",
            "radius_m": "5000",
            "categories": ["food", "supplies", "medicine", "medical_advice", "other"],
            "on_duty": "y",
            "capacity": "2",
            **profile,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return number


def site_pages(app):
    """{label: response} of every page in the states a visitor can reach (anonymous, form
    errors, a requester's manage pages, a volunteer with a need, a claim and the map, the
    error pages), plus every same-site page linked from them."""
    client = app.test_client()
    posted = client.post(API, json=request_payload()).get_json()
    token = posted["manage_token"]
    anonymous = Visitor(app)
    for path in (
        "/",
        "/?lang=en",
        "/need-help",
        "/login",
        "/register",
        "/volunteer",
        "/volunteer/map",
        f"/m/{token}",
        f"/m/{token}/edit",
        f"/m/{token}/cancel",
        "/m/not-a-real-token",
        "/no-such-page",
    ):
        anonymous.get(path)
    anonymous.get("/need-help")
    anonymous.post("/need-help", {"description": "", "phone": "123"}, "POST /need-help errors")
    anonymous.get("/login")
    anonymous.post(
        "/login", {"phone": new_phone(), "password": "sai-mat-khau"}, "POST /login wrong"
    )
    anonymous.get("/register")
    anonymous.post(
        "/register", {"name": "", "phone": "0123", "password": "ngan"}, "POST /register errors"
    )
    anonymous.post("/need-help", {}, "POST /need-help without a token", token=False)

    helper = Visitor(app, "volunteer")
    _register(helper)
    need = client.post(API, json=request_payload()).get_json()
    helper.get("/volunteer/needs")
    response = helper.post(f"/volunteer/claim/{need['id']}", {})
    assert response.status_code == 302
    helper.get(urlsplit(response.headers["Location"]).path, "GET the claim page")
    for path in (
        "/volunteer/needs",
        "/volunteer/profile",
        "/volunteer/map",
        f"/volunteer/claims/{posted['id']}",
    ):
        helper.get(path)
    pages = {**anonymous.pages, **helper.pages}
    # Every same-site page linked from those, once.
    crawler = Visitor(app, "volunteer")
    crawler.client = helper.client
    seen = {urlsplit(r.request.url).path for r in pages.values()}
    for response in list(pages.values()):
        for link in LINK.findall(response.get_data(as_text=True)):
            path = html.unescape(link)
            if path.startswith(("/api/", "/static/")) or path.split("?")[0] in seen:
                continue
            seen.add(path.split("?")[0])
            crawler.get(path, f"GET {path} (linked)")
    pages.update(crawler.pages)
    return pages


# -- headers ------------------------------------------------------------------------------


def test_pages_have_the_security_headers_and_no_inline_script_or_style(app):
    """Every page: the headers; no inline <script>, on*= handler, style= or <style>, no
    javascript: URL; every POST form carries a CSRF token."""
    pages = site_pages(app)
    assert len(pages) >= 20, sorted(pages)
    for label, response in pages.items():
        body = response.get_data(as_text=True)
        # Pages under a manage link send no referrer at all (resident views).
        private = urlsplit(response.request.url).path.startswith("/m/")
        assert_security_headers(
            response, label, "no-referrer" if private else HEADERS["Referrer-Policy"]
        )
        for pattern in (INLINE_SCRIPT, HANDLER_ATTR, STYLE_ATTR, STYLE_BLOCK, JS_URL):
            found = pattern.search(body)
            assert found is None, (label, found and found.group(0))
        for form in FORM.findall(body):
            if POST_FORM.match(form):
                assert CSRF.search(form), (label, form[:300])


def test_api_answers_and_errors_have_the_security_headers(client):
    posted = client.post(API, json=request_payload())
    assert posted.status_code == 201
    answers = {
        "201": posted,
        "200 nearby": client.get(f"{API}/nearby?lat=21.27&lon=106.19&radius_m=2000"),
        "200 one": client.get(f"{API}/{posted.get_json()['id']}"),
        "404": client.get(f"{API}/987654"),
        "422": client.post(API, json={}),
        "401": client.post("/api/v1/auth/token", json={"phone": new_phone(), "password": "x"}),
        "405": client.delete(API),
        "health": client.get("/healthz"),
        "openapi": client.get("/api/v1/openapi.json"),
    }
    for label, response in answers.items():
        assert response.mimetype == "application/json", label
        assert_security_headers(response, label)


@pytest.mark.parametrize(
    "path",
    [
        "/static/css/app.css",
        "/static/js/home.js",
        "/static/vendor/leaflet/leaflet.js",
        "/static/nothing.css",
    ],
)
def test_static_files_have_the_security_headers(client, path):
    response = client.get(path)
    assert response.status_code in (200, 404)
    assert_security_headers(response, path)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_rate_limited_answers_have_the_security_headers(database_url):
    app = make_app(
        database_url,
        RATELIMIT_ENABLED=True,
        WTF_CSRF_ENABLED=False,
        RATELIMIT_LOGIN_FAILURES_PER_PHONE="1 per minute",
    )
    client = app.test_client()
    phone = new_phone()
    body = {"phone": phone, "password": "sai-mat-khau"}
    assert client.post("/api/v1/auth/token", json=body).status_code == 401
    refused = client.post("/api/v1/auth/token", json=body)
    assert refused.status_code == 429 and refused.mimetype == "application/json"
    assert_security_headers(refused, "429 api")
    page = client.post("/login", data=body)
    assert page.status_code == 429 and page.mimetype == "text/html"
    assert_security_headers(page, "429 page")
    assert not INLINE_SCRIPT.search(page.get_data(as_text=True))


def test_the_map_tile_host_comes_from_the_config(database_url):
    app = make_app(database_url, MAP_TILE_URL="https://{s}.tiles.example.org/{z}/{x}/{y}.png")
    csp = app.test_client().get("/").headers["Content-Security-Policy"]
    assert "img-src 'self' data: https://*.tiles.example.org;" in csp


@pytest.mark.parametrize(
    "url, origin",
    [
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tile.openstreetmap.org"),
        ("https://{s}.tile.example.org:8443/t/{z}/{x}/{y}.png", "https://*.tile.example.org:8443"),
        ("/tiles/{z}/{x}/{y}.png", None),
    ],
)
def test_tile_origin(url, origin):
    from connect.security import tile_origin

    assert tile_origin(url) == origin


# -- HTTPS and cookies -----------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"])
def test_force_https_redirects_and_sends_hsts(database_url):
    """FORCE_HTTPS=1: plain http is sent to https, and https answers carry HSTS; behind a
    trusted proxy its X-Forwarded-Proto counts."""
    app = make_app(database_url, FORCE_HTTPS=True, PROXY_FIX_X_PROTO=1)
    client = app.test_client()
    response = client.get("/need-help")
    assert response.status_code == 302
    assert response.headers["Location"] == "https://localhost/need-help"
    secure = client.get("/need-help", base_url="https://localhost")
    assert secure.status_code == 200
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31556926")
    proxied = client.get("/need-help", headers={"X-Forwarded-Proto": "https"})
    assert proxied.status_code == 200 and "Strict-Transport-Security" in proxied.headers


def test_https_is_not_forced_by_default(client):
    response = client.get("/need-help")
    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response.headers


def _session_cookie(response):
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, response.headers
    return {part.strip().split("=")[0].lower() for part in cookies[0].split(";")}


def test_the_session_cookie_is_httponly_samesite_lax_and_secure_in_production(database_url):
    """Tests serve plain http (SESSION_COOKIE_SECURE false, as `make run` does); a real
    deployment's default is a Secure cookie."""
    plain = make_app(database_url).test_client().get("/need-help")
    attributes = _session_cookie(plain)
    assert {"httponly", "samesite"} <= attributes and "secure" not in attributes
    assert "SameSite=Lax" in plain.headers["Set-Cookie"]
    secure = (
        make_app(database_url, SESSION_COOKIE_SECURE=True)
        .test_client()
        .get("/need-help", base_url="https://localhost")
    )
    assert {"httponly", "samesite", "secure"} <= _session_cookie(secure)


def test_production_config_defaults(monkeypatch, tmp_path):
    from connect.config import Config

    for name in (
        "SESSION_COOKIE_SECURE",
        "FORCE_HTTPS",
        "PROXY_FIX_X_FOR",
        "PROXY_FIX_X_PROTO",
        "RATELIMIT_STORAGE_URI",
        "RATELIMIT_POST_PER_PHONE",
    ):
        monkeypatch.delenv(name, raising=False)
    config = Config(str(tmp_path))
    assert config.SESSION_COOKIE_SECURE is True and config.SESSION_COOKIE_HTTPONLY is True
    assert config.SESSION_COOKIE_SAMESITE == "Lax"
    assert (config.FORCE_HTTPS, config.PROXY_FIX_X_FOR, config.PROXY_FIX_X_PROTO) == (False, 0, 0)
    assert config.RATELIMIT_STORAGE_URI == "memory://"
    assert config.RATELIMIT_POST_PER_PHONE == "5 per day"
    monkeypatch.setenv("RATELIMIT_POST_PER_PHONE", "3 per day")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "false")
    config = Config(str(tmp_path))
    assert config.RATELIMIT_POST_PER_PHONE == "3 per day"
    assert config.SESSION_COOKIE_SECURE is False


# -- CSRF on every page form ---------------------------------------------------------------


def _page_post_routes(app):
    return sorted(
        {
            (rule.rule, rule.endpoint)
            for rule in app.url_map.iter_rules()
            # Kannel's calls carry their own secret, not a form's token.
            if "POST" in rule.methods and not rule.rule.startswith(("/api/", "/sms/"))
        }
    )


def test_every_page_form_refuses_a_post_without_the_token_kindly(app):
    """Each page POST route (from the URL map, so new ones are covered too) refuses a post
    without a CSRF token with a page in words (400, or back to a page with a message);
    never a 500, never JSON; and nothing is done."""
    client = app.test_client()
    posted = client.post(API, json=request_payload()).get_json()
    helper = Visitor(app)
    _register(helper)
    routes = _page_post_routes(app)
    assert len(routes) >= 10, routes
    offerer = new_phone()
    client.post(
        "/api/v1/auth/register", json={"phone": offerer, "password": PASSWORD, "name": "Người Bán"}
    )
    token = client.post("/api/v1/auth/token", json={"phone": offerer, "password": PASSWORD})
    offer = client.post(
        "/api/v1/offers",
        headers={"Authorization": f"Bearer {token.get_json()['token']}"},
        json={
            "title": "Rau",
            "description": "Rau sạch",
            "categories": ["food"],
            "location": {"lat": 21.2731, "lon": 106.1946},
        },
    ).get_json()
    values = {
        "request_id": posted["id"],
        "token": posted["manage_token"],
        "offer_id": offer["id"],
        "flag_id": 1,
        "block_id": 1,
    }
    for rule, endpoint in routes:
        with app.test_request_context():
            from flask import url_for

            arguments = app.url_map._rules_by_endpoint[endpoint][0].arguments
            path = url_for(endpoint, **{name: values.get(name, "x") for name in arguments})
        response = helper.client.post(path, data={"phone": new_phone(), "password": PASSWORD})
        label = f"POST {rule} without a token"
        assert response.status_code in (400, 302, 303), (label, response.status_code)
        page = response
        for _hop in range(3):  # back to the form, which may send a signed-in visitor on
            if page.status_code not in (302, 303):
                break
            target = urlsplit(page.headers["Location"])
            assert not target.netloc or target.netloc == "localhost", label
            page = helper.client.get(target.path + (f"?{target.query}" if target.query else ""))
        if response.status_code != 400:
            assert page.status_code == 200, label
            assert 'class="flash flash-error"' in page.get_data(as_text=True), label
        assert page.mimetype == "text/html", label
        assert not page.get_data(as_text=True).lstrip().startswith("{"), label
        assert_security_headers(page, label, page.headers["Referrer-Policy"])
    # Nothing was done: the request is still open, the volunteer still logged in.
    assert client.get(f"{API}/{posted['id']}").get_json()["status"] == "open"
    assert client.get(f"/api/v1/offers/{offer['id']}").get_json()["status"] == "open"
    assert helper.client.get("/volunteer/needs").status_code == 200


# -- passwords ------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["e164", "local", "spaced", "digits"])
def test_the_password_cannot_be_the_phone_number(client, spelling):
    phone = new_phone()
    local = "0" + phone[3:]
    password = {
        "e164": phone,
        "local": local,
        "spaced": f"{local[:4]} {local[4:7]} {local[7:]}",
        "digits": phone[1:],
    }[spelling]
    response = client.post(
        "/api/v1/auth/register", json={"phone": local, "password": password, "name": "An"}
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["fields"] == {
        "password": ["Do not use your phone number as your password."]
    }


def test_the_register_page_says_the_password_cannot_be_the_phone(app):
    visitor = Visitor(app)
    visitor.get("/register?lang=en")
    phone = "0" + new_phone()[3:]
    response = visitor.post("/register", {"name": "An", "phone": phone, "password": phone})
    assert response.status_code == 422
    assert "Your password cannot be your phone number." in html.unescape(
        response.get_data(as_text=True)
    )


def test_eight_characters_of_anything_else_are_enough(client):
    """A first-time user can meet the rule: no classes of characters are demanded."""
    for password in ("mật khẩu", "12345679", "abcdefgh"):
        response = client.post(
            "/api/v1/auth/register",
            json={"phone": new_phone(), "password": password, "name": "An"},
        )
        assert response.status_code == 201, (password, response.get_json())
    short = client.post(
        "/api/v1/auth/register", json={"phone": new_phone(), "password": "ngan", "name": "An"}
    )
    assert short.status_code == 422
