"""A WSGI fast path for the nearby list (GET /api/v1/requests/nearby): plain queries skip
Flask, same answer. The route and its schema are given by create_app."""

# The nearby list is pre-encoded bytes (~240 us); Flask, webargs, Talisman, Flask-Compress and
# the request context around it cost more than the list itself. This middleware answers only
# requests it can prove Flask would answer 200 with the same bytes and headers, and hands every
# other one to Flask unchanged:
#
# - GET only, PATH_INFO exactly the nearby path, no Cookie (Flask may refresh a session), no
#   conditional or range header (Flask-Compress makes compressed answers conditional);
# - a query string of known parameters, each once, non-empty, in the plainest spelling, whose
#   values NearbyQuerySchema accepts for certain (the same float()/int() it uses, the same
#   ranges, known categories and sorts, the same defaults); anything else, even what the schema
#   would accept (unknown parameters, repeats, "2_1", percent-escapes), goes to Flask;
# - headers are never written here: the first 200 Flask gives for a variant is remembered
#   without Date and Content-Length (filled in per answer); one with Set-Cookie is never reused.
#   A variant is what the headers depend on: Accept-Encoding, the scheme and X-Forwarded-Proto
#   (Talisman's HSTS and redirect), and whether the body reaches COMPRESS_MIN_SIZE;
# - compression: identity, and gzip exactly as Flask-Compress makes it (gzip.compress at
#   COMPRESS_LEVEL: the same bytes but the 4-byte timestamp, which differs between any two of
#   Flask's own answers too). A variant Flask answered with br, zstd or deflate stays with Flask;
# - any exception (the read model's 503 included) goes to Flask, which answers in the envelope.
#
# Nothing the app records per request is skipped: for a nearby GET its hooks write no log line
# and touch no database session (finish_transaction returns at once); the request id and the
# metrics (connect.web.observe) and gunicorn's access log sit outside this path and see every
# request.
import gzip
import re

from marshmallow import validate
from werkzeug.http import http_date

from connect.web.observe import ROUTE

# Only these characters: no "+", "%" or ";" whose decoding Flask would have to do.
_PLAIN = re.compile(r"[A-Za-z0-9_.,=&-]+")
# [0-9], not \d (which takes any Unicode digit); no exponent, underscore, blank or leading "+".
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]{0,2})(?:\.[0-9]{1,15})?")
_INT = re.compile(r"[1-9][0-9]{0,5}")

# The parameters parse() turns into the read model's arguments.
_HANDLED = frozenset({"lat", "lon", "radius_m", "categories", "limit", "sort"})

# Request headers whose presence may change Flask's answer in ways not learned here.
_FALL_THROUGH_HEADERS = (
    "HTTP_COOKIE",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_MATCH",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_RANGE",
    "HTTP_IF_RANGE",
)
_PER_RESPONSE = frozenset({"date", "content-length"})
_MAX_VARIANTS = 32  # Accept-Encoding is client text: do not learn without bound
_NEVER = object()  # a variant Flask answered in a way this path does not copy


def _number(text, parse, pattern, low, high):
    if text is None or not pattern.fullmatch(text):
        return None
    value = parse(text)
    return value if low <= value <= high else None


def _range(field):
    (bounds,) = [v for v in field.validators if isinstance(v, validate.Range)]
    return bounds.min, bounds.max


def _choices(field):
    (one_of,) = [v for v in field.validators if isinstance(v, validate.OneOf)]
    return frozenset(one_of.choices)


class QueryRules:
    """What the nearby route's schema accepts, read from it: defaults, ranges, choices."""

    def __init__(self, schema):
        fields = schema.fields
        # A parameter the schema knows and this parser does not goes to Flask, and the reverse.
        self.params = _HANDLED & frozenset(fields)
        self.lat, self.lon = _range(fields["lat"]), _range(fields["lon"])
        self.radius = (fields["radius_m"].load_default, *_range(fields["radius_m"]))
        self.limit = (fields["limit"].load_default, *_range(fields["limit"]))
        self.sort, self.sorts = fields["sort"].load_default, _choices(fields["sort"])
        self.categories = _choices(fields["categories"].inner)

    def parse(self, query):
        """The schema's result for a plain query string, or None when Flask must decide."""
        if not query or not _PLAIN.fullmatch(query):
            return None
        given = {}
        for pair in query.split("&"):
            name, sep, value = pair.partition("=")
            if not sep or not value or name in given or name not in self.params:
                return None
            given[name] = value
        lat = _number(given.get("lat"), float, _FLOAT, *self.lat)
        lon = _number(given.get("lon"), float, _FLOAT, *self.lon)
        if lat is None or lon is None:
            return None
        default, low, high = self.radius
        radius_m = _number(given.get("radius_m", str(default)), int, _INT, low, high)
        default, low, high = self.limit
        limit = _number(given.get("limit", str(default)), int, _INT, low, high)
        sort = given.get("sort", self.sort)
        if radius_m is None or limit is None or sort not in self.sorts:
            return None
        categories = None
        if "categories" in given:
            categories = given["categories"].split(",")
            if not all(name in self.categories for name in categories):
                return None
        return lat, lon, radius_m, limit, categories, sort


class _Variant:
    """Headers Flask sent for one variant, with the slots filled per answer."""

    __slots__ = ("headers", "length_at", "date_at", "encoding")

    def __init__(self, headers, encoding):
        self.headers = [(name, value) for name, value in headers]
        names = [name.lower() for name, _ in headers]
        self.length_at = names.index("content-length")
        self.date_at = names.index("date") if "date" in names else None
        self.encoding = encoding


class NearbyFastPath:
    """WSGI middleware: plain nearby GETs answered from the read model, the rest by Flask."""

    def __init__(self, wsgi_app, path, rules, read_model, compress_min_size, gzip_level, endpoint):
        self.wsgi_app = wsgi_app
        self.route = (endpoint, "fast_path")  # its answers' route in the metrics
        self.path = path
        self.rules = rules
        self.read_model = read_model
        self.compress_min_size = compress_min_size
        self.gzip_level = gzip_level
        self._variants = {}
        self.answered = 0  # how many requests this path answered itself (tests read it)

    def __call__(self, environ, start_response):
        if (
            environ.get("PATH_INFO") != self.path
            or environ.get("REQUEST_METHOD") != "GET"
            or any(name in environ for name in _FALL_THROUGH_HEADERS)
        ):
            return self.wsgi_app(environ, start_response)
        args = self.rules.parse(environ.get("QUERY_STRING"))
        if args is None:
            return self.wsgi_app(environ, start_response)
        inputs = (
            environ.get("HTTP_ACCEPT_ENCODING"),
            environ.get("wsgi.url_scheme"),
            environ.get("HTTP_X_FORWARDED_PROTO"),
        )
        try:
            body = self.read_model.nearby_json(*args)
            variant = self._variants.get((inputs, len(body) >= self.compress_min_size))
            if variant is None:
                return self._learn(environ, start_response, inputs)
            if variant is _NEVER:
                return self.wsgi_app(environ, start_response)
            if variant.encoding == "gzip":
                # As Flask-Compress does it (compression.gzip.compress at COMPRESS_LEVEL).
                body = gzip.compress(body, self.gzip_level)
            headers = list(variant.headers)
            headers[variant.length_at] = (headers[variant.length_at][0], str(len(body)))
            if variant.date_at is not None:
                headers[variant.date_at] = (headers[variant.date_at][0], http_date())
        except Exception:  # noqa: BLE001 - Flask answers it, in the envelope
            return self.wsgi_app(environ, start_response)
        self.answered += 1
        environ[ROUTE] = self.route
        start_response("200 OK", headers)
        return [body]

    def _learn(self, environ, start_response, inputs):
        """Let Flask answer, and remember its headers if it answered 200."""

        def start(status, headers, exc_info=None):
            if status.startswith("200 ") and exc_info is None:
                self._remember(inputs, headers)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)

    def _remember(self, inputs, headers):
        if len(self._variants) >= _MAX_VARIANTS:
            return
        values = {name.lower(): value for name, value in headers}
        encoding = values.get("content-encoding")
        if "content-length" not in values:  # streamed: its size class is unknown
            return
        # Flask-Compress compresses a body only from COMPRESS_MIN_SIZE up.
        large = encoding is not None or int(values["content-length"]) >= self.compress_min_size
        if "set-cookie" in values or encoding not in (None, "gzip"):
            self._variants[(inputs, large)] = _NEVER
            return
        template = [
            (name, None if name.lower() in _PER_RESPONSE else value) for name, value in headers
        ]
        self._variants[(inputs, large)] = _Variant(template, encoding)


def install(app, endpoint, schema):
    """Put the fast path in front of ``endpoint`` (whose query ``schema`` it obeys) when
    NEARBY_FAST_PATH is on."""
    if not app.config["NEARBY_FAST_PATH"]:
        return
    (rule,) = [rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint]
    fast_path = NearbyFastPath(
        app.wsgi_app,
        rule.rule,
        QueryRules(schema),
        app.extensions["read_model"],
        app.config["COMPRESS_MIN_SIZE"],
        app.config["COMPRESS_LEVEL"],
        endpoint,
    )
    app.extensions["nearby_fast_path"] = fast_path
    app.wsgi_app = fast_path
