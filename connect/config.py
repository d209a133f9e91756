"""Configuration read from the environment, with overrides for tests."""
import os
from pathlib import Path

from connect.logs import output_format


def _bool(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")


# Places a resident can choose instead of a map pin (no JavaScript, or no map tiles):
# (name, lat, lon). Defaults to the towns of Bac Giang; PLACES='[["name", lat, lon], ...]'.
DEFAULT_PLACES = (
    ("Bắc Giang", 21.2731, 106.1946), ("Việt Yên", 21.2700, 106.1000),
    ("Lục Nam", 21.2930, 106.3960), ("Lạng Giang", 21.3620, 106.2500),
    ("Yên Dũng", 21.2050, 106.2420), ("Hiệp Hòa", 21.3550, 105.9700),
)


def _places(name, default):
    import json

    value = os.environ.get(name)
    if not value:
        return default
    return tuple((str(place), float(lat), float(lon)) for place, lat, lon in json.loads(value))


def _int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


# Rate limits (connect.web.ratelimits applies them): setting name -> default; each can be overridden from the environment (below) and
# is a flask-limiter string, where "a;b;c" stacks windows (all must have room).
# docs/operations.md has the same table with the reasons.
RATE_LIMITS = {
    # Posted requests per phone: a household needs a few, a spammer many.
    "RATELIMIT_POST_PER_PHONE": "5 per day",
    # Posted requests per client address: generous, as whole carriers sit behind one NAT.
    "RATELIMIT_POST_PER_IP": "30 per hour",
    # Registration attempts per client address.
    "RATELIMIT_REGISTER_PER_IP": "20 per hour",
    # Failed logins per submitted phone (known or not): the stacked windows are the backoff.
    "RATELIMIT_LOGIN_FAILURES_PER_PHONE": "5 per minute;10 per hour;20 per day",
    # Failed logins per client address, whatever phone they name.
    "RATELIMIT_LOGIN_FAILURES_PER_IP": "30 per minute;200 per hour",
    # Claim attempts per volunteer account.
    "RATELIMIT_CLAIMS_PER_VOLUNTEER": "30 per hour",
    # Edits of a request per client address.
    "RATELIMIT_EDITS_PER_IP": "60 per hour",
    # Reports ("Báo xấu") per account: enough for an honest volunteer's day, not for a spree.
    "RATELIMIT_REPORTS_PER_ACCOUNT": "20 per day",
    # New manage links per client address (a requester needs one when a link leaked).
    "RATELIMIT_NEW_LINKS_PER_IP": "10 per hour",
    # Batch assignment previews and applies per coordinator account: a preview of a big area
    # takes seconds of CPU, and a console needs a few a minute.
    "RATELIMIT_ASSIGNMENTS_PER_ACCOUNT": "10 per minute;100 per hour",
    # Offers of help posted per account: a shop or group posts a few a day, not dozens.
    # (Asking an offer posts a request: the two post limits above count it.)
    "RATELIMIT_OFFERS_PER_ACCOUNT": "10 per day",
    # Hotline intake per coordinator account: an operator enters call after call for
    # others, so the resident posting limits above do not apply to it; this only stops a
    # runaway script.
    "RATELIMIT_INTAKE_PER_ACCOUNT": "600 per hour",
    # The public counts by area: anyone may download them, and each costs a scan of every
    # request; a dashboard refreshing every minute stays well inside this.
    "RATELIMIT_PUBLIC_EXPORT_PER_IP": "120 per hour",
}

class Config:
    """Settings for a real deployment; every value can come from the environment."""

    def __init__(self, instance_path):
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or _dev_secret(instance_path)
        self.SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or (
            f"sqlite:///{Path(instance_path) / 'connect.db'}"
        )
        self.DEMO_DATA = _bool("DEMO_DATA", True)
        self.RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
        # memory:// counts per process; a shared store (redis://host:6379/0) counts across
        # every worker and host.
        self.RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or "memory://"
        # If that store is unreachable, count in memory per process rather than refuse service.
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        # Retry-After is set on 429 answers only (connect.errors, connect.web.pages), the same
        # figure as details.retry_after; flask-limiter would put it on every answer.
        self.RATELIMIT_HEADERS_ENABLED = False
        for name, default in RATE_LIMITS.items():
            setattr(self, name, os.environ.get(name) or default)
        # Number of proxies in front of the app trusted to set X-Forwarded-For (the client
        # address rate limits count by) and X-Forwarded-Proto; 0 trusts none.
        self.PROXY_FIX_X_FOR = _int("PROXY_FIX_X_FOR", 0)
        self.PROXY_FIX_X_PROTO = _int("PROXY_FIX_X_PROTO", 0)
        # Behind TLS: redirect http to https and send HSTS.
        self.FORCE_HTTPS = _bool("FORCE_HTTPS", False)
        # Bodies are small JSON documents; anything bigger is a mistake or an attack.
        self.MAX_CONTENT_LENGTH = 64 * 1024
        self.CLAIM_LEASE_SECONDS = _int("CLAIM_LEASE_SECONDS", 4 * 3600)
        self.REQUEST_EXPIRY_SECONDS = _int("REQUEST_EXPIRY_SECONDS", 72 * 3600)
        # "Báo xấu": this many distinct accounts with unresolved reports hide an open or
        # claimed request until a coordinator reviews it.
        self.REPORT_HIDE_THRESHOLD = _int("REPORT_HIDE_THRESHOLD", 3)
        # Batch assignment (docs/assignment.md): the most open requests and available
        # volunteers one preview takes (the bench solves 10,000 x 10,000 in a few seconds),
        # and the most pairs one apply takes (each is a claim in one transaction; 500 pairs as
        # the preview gives them fit in MAX_CONTENT_LENGTH).
        self.ASSIGNMENT_MAX_REQUESTS = _int("ASSIGNMENT_MAX_REQUESTS", 20_000)
        self.ASSIGNMENT_MAX_VOLUNTEERS = _int("ASSIGNMENT_MAX_VOLUNTEERS", 20_000)
        # Pairs (request, volunteer in range who covers it) bound the solver's memory and time;
        # the bench's 10,000 x 10,000 province has 3.6 million.
        self.ASSIGNMENT_MAX_CANDIDATE_PAIRS = _int("ASSIGNMENT_MAX_CANDIDATE_PAIRS", 5_000_000)
        self.ASSIGNMENT_MAX_PAIRS = _int("ASSIGNMENT_MAX_PAIRS", 500)
        # A phone number residents can call for help with the service (e.g. a lost manage
        # link); pages mention it when set.
        self.HOTLINE = os.environ.get("HOTLINE", "")
        # Read model: how often a nearby query re-reads changes, and how stale it may get
        # when the database cannot be reached before nearby answers 503.
        self.READ_MODEL_SYNC_INTERVAL = float(os.environ.get("READ_MODEL_SYNC_INTERVAL", "0.2"))
        self.READ_MODEL_MAX_STALENESS = float(os.environ.get("READ_MODEL_MAX_STALENESS", "3.0"))
        # Plain nearby GETs skip Flask's per-request work, same bytes and headers
        # (connect.web.fastpath); off sends every request through Flask.
        self.NEARBY_FAST_PATH = _bool("NEARBY_FAST_PATH", True)
        self.BLUR_SECRET = os.environ.get("BLUR_SECRET") or self.SECRET_KEY
        # Fair ranking of nearby lists (docs/ranking.md): rank = distance / (1 + urgent weight
        # if urgent + wait weight x hours waited, up to the cap).
        self.RANK_URGENT_WEIGHT = float(os.environ.get("RANK_URGENT_WEIGHT") or "1.0")
        self.RANK_WAIT_WEIGHT_PER_HOUR = float(os.environ.get("RANK_WAIT_WEIGHT_PER_HOUR")
                                               or "0.2")
        self.RANK_WAIT_CAP_HOURS = float(os.environ.get("RANK_WAIT_CAP_HOURS") or "24")
        # Channels that deliver notifications (connect.notifications.delivery.BACKENDS).
        self.NOTIFY_BACKENDS = tuple(name.strip() for name in os.environ.get(
            "NOTIFY_BACKENDS", "inbox,log").split(",") if name.strip())
        # Push matching (connect.matching.push): a new or reopened request is pushed to the
        # PUSH_TOP_K nearest fitting on-duty volunteers, none more than PUSH_MAX_PER_HOUR
        # times an hour; a claimant is reminded LEASE_REMINDER_SECONDS before the lease ends.
        self.PUSH_TOP_K = _int("PUSH_TOP_K", 5)
        self.PUSH_MAX_PER_HOUR = _int("PUSH_MAX_PER_HOUR", 6)
        self.LEASE_REMINDER_SECONDS = _int("LEASE_REMINDER_SECONDS", 30 * 60)
        # The live inbox (long polling): a poll is held at most INBOX_WAIT_SECONDS, and at
        # most INBOX_MAX_WAITING polls are held at once per worker process (each holds a
        # gunicorn thread); beyond that a poll is answered at once (docs/deploy.md).
        self.INBOX_WAIT_SECONDS = _int("INBOX_WAIT_SECONDS", 25)
        self.INBOX_MAX_WAITING = _int("INBOX_MAX_WAITING", 2)
        # Personal data of a closed request is anonymised this many days after it closed
        # (`flask connect purge`, from cron).
        self.PURGE_AFTER_DAYS = _int("PURGE_AFTER_DAYS", 30)
        # Views of one request's contact details by one person, on one channel, within this
        # many seconds are logged once (a claim page polls every 10 s); 0 logs every view.
        self.REVEAL_LOG_WINDOW_SECONDS = _int("REVEAL_LOG_WINDOW_SECONDS", 600)
        # A POST retried with the same Idempotency-Key within this many seconds answers the
        # first result again (connect.web.idempotency); `flask connect purge` deletes older keys.
        self.IDEMPOTENCY_KEY_TTL_SECONDS = _int("IDEMPOTENCY_KEY_TTL_SECONDS", 24 * 3600)
        self.API_TITLE = "connect"
        self.API_VERSION = "v1"
        self.OPENAPI_VERSION = "3.0.3"
        self.OPENAPI_URL_PREFIX = "/api/v1"
        self.OPENAPI_JSON_PATH = "openapi.json"
        # hide_parameters: a database error's text (logged, and in tracebacks) never holds
        # the values of a statement (names, phones, exact points).
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "hide_parameters": True}
        # Logs: JSON lines (LOG_FORMAT=text for people), at LOG_LEVEL; connect.logs.
        self.LOG_FORMAT = output_format(os.environ.get("LOG_FORMAT"))
        self.LOG_LEVEL = (os.environ.get("LOG_LEVEL") or "INFO").upper()
        # /metrics on the app's port answers only `Authorization: Bearer <this>`; unset, 404
        # (the gunicorn master serves them without a token on 127.0.0.1:METRICS_PORT).
        self.METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
        # Pages: Vietnamese first, English on request.
        self.BABEL_DEFAULT_LOCALE = "vi"
        # Times on pages are local; the database stores UTC.
        self.BABEL_DEFAULT_TIMEZONE = os.environ.get("TIMEZONE", "Asia/Ho_Chi_Minh")
        self.LANGUAGES = ("vi", "en")
        self.BABEL_TRANSLATION_DIRECTORIES = str(Path(__file__).parent / "translations")
        self.MAP_TILE_URL = os.environ.get(
            "MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
        self.MAP_ATTRIBUTION = os.environ.get(
            "MAP_ATTRIBUTION", "&copy; OpenStreetMap contributors")
        # Where a map opens when nothing better is known (Bac Giang city).
        self.MAP_CENTER = (21.2731, 106.1946)
        self.PLACES = _places("PLACES", DEFAULT_PLACES)
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        # Sent over https only; `make run` and the tests serve plain http and turn it off.
        self.SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", True)
        self.WTF_CSRF_TIME_LIMIT = None  # a form left open on a slow phone must still post
        self.COMPRESS_MIMETYPES = ["text/html", "text/css", "application/javascript",
                                   "text/javascript", "application/json", "image/svg+xml"]
        self.COMPRESS_MIN_SIZE = 500


def _dev_secret(instance_path):
    """A per-instance random key kept on disk so sessions survive restarts in development."""
    import secrets

    path = Path(instance_path) / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        path.write_text(key)
        path.chmod(0o600)
        return key
