"""Configuration read from the environment, with overrides for tests; settle() refuses what
would misbehave in production."""

import os
import secrets
from pathlib import Path

from connect.logs import output_format

PRODUCTION, DEVELOPMENT = "production", "development"
ENVIRONMENTS = (PRODUCTION, DEVELOPMENT)
# Keys shorter than this are guessable or a placeholder left in an example file.
MIN_KEY_LENGTH = 32
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class ConfigError(RuntimeError):
    """A setting the app refuses to start with; the message names the variable."""


def _bool(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    word = value.strip().lower()
    if word not in _TRUE + _FALSE:
        raise ConfigError(
            f"{name}={value!r} is not a yes/no value: use one of "
            f"{', '.join(_TRUE)} or {', '.join(_FALSE)}."
        )
    return word in _TRUE


# Places a resident can choose instead of a map pin (no JavaScript, or no map tiles):
# (name, lat, lon). Defaults to the towns of Bac Giang; PLACES='[["name", lat, lon], ...]'.
DEFAULT_PLACES = (
    ("Bắc Giang", 21.2731, 106.1946),
    ("Việt Yên", 21.2700, 106.1000),
    ("Lục Nam", 21.2930, 106.3960),
    ("Lạng Giang", 21.3620, 106.2500),
    ("Yên Dũng", 21.2050, 106.2420),
    ("Hiệp Hòa", 21.3550, 105.9700),
)


def _places(name, default):
    import json

    value = os.environ.get(name)
    if not value:
        return default
    return tuple((str(place), float(lat), float(lon)) for place, lat, lon in json.loads(value))


def _number(kind, name, default):
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(
            f"{name}={value!r} is not a {kind.__name__} (the default is {default})."
        ) from None


def _int(name, default):
    return _number(int, name, default)


def _float(name, default):
    return _number(float, name, default)


def _list(name):
    """A comma-separated list; empty items are dropped."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


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
    # Texts taken in per sending number (Kannel's get-url): a conversation needs a few, a
    # phone stuck in a loop with an auto-responder thousands.
    "RATELIMIT_SMS_PER_NUMBER": "20 per hour;60 per day",
    # One-time codes asked (password reset, a lost manage link, proving a requester's phone),
    # per submitted phone whether or not it has an account: each one costs a text.
    "RATELIMIT_CODES_PER_PHONE": "3 per 15 minutes;10 per day",
    # Codes asked per client address, whatever phone they name.
    "RATELIMIT_CODES_PER_IP": "20 per hour;100 per day",
    # Wrong codes per submitted phone, across the codes it was sent: with SMS_CODE_TRIES a
    # code, this bounds the guesses a day (a guess is right once in a million).
    "RATELIMIT_CODE_TRIES_PER_PHONE": "10 per hour;20 per day",
}


class Config:
    """Settings for a real deployment; every value can come from the environment."""

    def __init__(self, instance_path):
        # Unset is production: a forgotten variable must never make a weaker service.
        self.CONNECT_ENV = os.environ.get("CONNECT_ENV") or PRODUCTION
        # SECRET_KEY signs sessions and CSRF tokens and seals stored idempotent answers; after
        # a rotation the previous keys go in SECRET_KEY_FALLBACKS (newest last) for a while.
        # BLUR_SECRET keys public locations: it never rotates. Production requires both and
        # DATABASE_URL; development makes what is unset (settle()).
        self.SECRET_KEY = os.environ.get("SECRET_KEY")
        self.SECRET_KEY_FALLBACKS = _list("SECRET_KEY_FALLBACKS")
        self.BLUR_SECRET = os.environ.get("BLUR_SECRET")
        self.SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")
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
        self.READ_MODEL_SYNC_INTERVAL = _float("READ_MODEL_SYNC_INTERVAL", 0.2)
        self.READ_MODEL_MAX_STALENESS = _float("READ_MODEL_MAX_STALENESS", 3.0)
        # Plain nearby GETs skip Flask's per-request work, same bytes and headers
        # (connect.web.fastpath); off sends every request through Flask.
        self.NEARBY_FAST_PATH = _bool("NEARBY_FAST_PATH", True)
        # Fair ranking of nearby lists (docs/ranking.md): rank = distance / (1 + urgent weight
        # if urgent + wait weight x hours waited, up to the cap).
        self.RANK_URGENT_WEIGHT = _float("RANK_URGENT_WEIGHT", 1.0)
        self.RANK_WAIT_WEIGHT_PER_HOUR = _float("RANK_WAIT_WEIGHT_PER_HOUR", 0.2)
        self.RANK_WAIT_CAP_HOURS = _float("RANK_WAIT_CAP_HOURS", 24.0)
        # Channels that deliver notifications (connect.notifications.delivery.BACKENDS).
        self.NOTIFY_BACKENDS = tuple(
            name.strip()
            for name in os.environ.get("NOTIFY_BACKENDS", "inbox,log,sms").split(",")
            if name.strip()
        )
        # SMS (connect.sms, docs/sms.md): SMS_BACKEND picks the gateway (log: one line a
        # message, no number or text; kannel: Kannel's sendsms at KANNEL_SENDSMS_URL as
        # KANNEL_USERNAME / KANNEL_PASSWORD, from SMS_SENDER). Kannel calls back with
        # SMS_INBOUND_SECRET (messages in, delivery reports at PUBLIC_BASE_URL, also the base
        # of links in texts).
        self.SMS_BACKEND = os.environ.get("SMS_BACKEND") or "log"
        self.KANNEL_SENDSMS_URL = os.environ.get("KANNEL_SENDSMS_URL", "")
        self.KANNEL_USERNAME = os.environ.get("KANNEL_USERNAME", "")
        self.KANNEL_PASSWORD = os.environ.get("KANNEL_PASSWORD", "")
        self.SMS_SENDER = os.environ.get("SMS_SENDER") or "connect"
        self.SMS_INBOUND_SECRET = os.environ.get("SMS_INBOUND_SECRET", "")
        self.PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000"
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
        # The outbox (connect.outbox): the worker takes up to OUTBOX_BATCH_SIZE due events a
        # transaction, looks again after OUTBOX_POLL_SECONDS when there were none, retries a
        # failed event after OUTBOX_BACKOFF_SECONDS doubling up to OUTBOX_BACKOFF_MAX_SECONDS,
        # and gives up after OUTBOX_MAX_ATTEMPTS; finished events are kept OUTBOX_KEEP_DAYS.
        # OUTBOX_INLINE runs events right after the commit that made them, in the committing
        # process (the tests; never with a worker running).
        self.OUTBOX_BATCH_SIZE = _int("OUTBOX_BATCH_SIZE", 20)
        self.OUTBOX_POLL_SECONDS = float(os.environ.get("OUTBOX_POLL_SECONDS") or "0.5")
        self.OUTBOX_BACKOFF_SECONDS = float(os.environ.get("OUTBOX_BACKOFF_SECONDS") or "5")
        self.OUTBOX_BACKOFF_MAX_SECONDS = float(
            os.environ.get("OUTBOX_BACKOFF_MAX_SECONDS") or "900"
        )
        self.OUTBOX_MAX_ATTEMPTS = _int("OUTBOX_MAX_ATTEMPTS", 8)
        self.OUTBOX_KEEP_DAYS = _int("OUTBOX_KEEP_DAYS", 7)
        self.OUTBOX_INLINE = _bool("OUTBOX_INLINE", False)
        # Texts (connect.sms, docs/sms.md): each number gets at most SMS_DAILY_CAP_PER_NUMBER
        # a local day and the service sends at most SMS_HOURLY_BUDGET an hour; over either, a
        # text waits (or, for a user with an inbox, goes there instead). Nothing but urgent
        # texts goes out in SMS_QUIET_HOURS (local time, HH:MM-HH:MM; empty: none). A text
        # the gateway could not take is tried SMS_MAX_ATTEMPTS times. SMS_ASCII_FOLD sends
        # Vietnamese without diacritics (brandname senders often must). A question asked by
        # SMS (reply 1 or 2) is open for SMS_QUESTION_HOURS.
        self.SMS_DAILY_CAP_PER_NUMBER = _int("SMS_DAILY_CAP_PER_NUMBER", 8)
        self.SMS_HOURLY_BUDGET = _int("SMS_HOURLY_BUDGET", 2000)
        self.SMS_QUIET_HOURS = os.environ.get("SMS_QUIET_HOURS", "22:00-06:00")
        self.SMS_MAX_ATTEMPTS = _int("SMS_MAX_ATTEMPTS", 6)
        self.SMS_ASCII_FOLD = _bool("SMS_ASCII_FOLD", False)
        self.SMS_QUESTION_HOURS = _int("SMS_QUESTION_HOURS", 72)
        # An open request is asked "still need help?" this long before it expires.
        self.SMS_CHECKIN_HOURS = _int("SMS_CHECKIN_HOURS", 12)
        self.SCHEDULE_CHECKINS_SECONDS = _int("SCHEDULE_CHECKINS_SECONDS", 600)
        # A one-time code sent by SMS (connect.sms.codes) works for SMS_CODE_MINUTES and
        # SMS_CODE_TRIES tries, once; a new one replaces it.
        self.SMS_CODE_MINUTES = _int("SMS_CODE_MINUTES", 10)
        self.SMS_CODE_TRIES = _int("SMS_CODE_TRIES", 5)
        # The scheduler (`flask connect scheduler`, connect.jobs): how often each job runs,
        # and how often a scheduler looks for due jobs.
        self.SCHEDULE_EXPIRE_SECONDS = _int("SCHEDULE_EXPIRE_SECONDS", 60)
        self.SCHEDULE_LEASE_REMINDERS_SECONDS = _int("SCHEDULE_LEASE_REMINDERS_SECONDS", 60)
        self.SCHEDULE_PURGE_SECONDS = _int("SCHEDULE_PURGE_SECONDS", 3600)
        self.SCHEDULE_IDEMPOTENCY_KEYS_SECONDS = _int("SCHEDULE_IDEMPOTENCY_KEYS_SECONDS", 3600)
        self.SCHEDULE_HOUSEKEEPING_SECONDS = _int("SCHEDULE_HOUSEKEEPING_SECONDS", 3600)
        self.SCHEDULER_TICK_SECONDS = float(os.environ.get("SCHEDULER_TICK_SECONDS") or "1")
        # Personal data of a closed request is anonymised this many days after it closed
        # (the scheduler's purge job, or `flask connect purge`).
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
        # The worker's and the scheduler's own metrics, without a token, on 127.0.0.1 (unset:
        # not served); two such processes on one host need two ports.
        self.WORKER_METRICS_PORT = _int("WORKER_METRICS_PORT", None)
        self.SCHEDULER_METRICS_PORT = _int("SCHEDULER_METRICS_PORT", None)
        # `flask db upgrade` on PostgreSQL: DDL waits this many seconds for its table lock
        # (readers and writers queue behind a waiting ALTER), then is tried again after
        # waiting 1, 2, 4... times as long, MIGRATION_LOCK_ATTEMPTS times in all.
        self.MIGRATION_LOCK_TIMEOUT = float(os.environ.get("MIGRATION_LOCK_TIMEOUT") or "5")
        self.MIGRATION_LOCK_ATTEMPTS = _int("MIGRATION_LOCK_ATTEMPTS", 5)
        # Pages: Vietnamese first, English on request.
        self.BABEL_DEFAULT_LOCALE = "vi"
        # Times on pages are local; the database stores UTC.
        self.BABEL_DEFAULT_TIMEZONE = os.environ.get("TIMEZONE", "Asia/Ho_Chi_Minh")
        self.LANGUAGES = ("vi", "en")
        self.BABEL_TRANSLATION_DIRECTORIES = str(Path(__file__).parent / "translations")
        self.MAP_TILE_URL = os.environ.get(
            "MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
        )
        self.MAP_ATTRIBUTION = os.environ.get(
            "MAP_ATTRIBUTION", "&copy; OpenStreetMap contributors"
        )
        # Where a map opens when nothing better is known (Bac Giang city).
        self.MAP_CENTER = (21.2731, 106.1946)
        self.PLACES = _places("PLACES", DEFAULT_PLACES)
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        # Sent over https only; `make run` and the tests serve plain http and turn it off.
        self.SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", True)
        self.WTF_CSRF_TIME_LIMIT = None  # a form left open on a slow phone must still post
        self.COMPRESS_MIMETYPES = [
            "text/html",
            "text/css",
            "application/javascript",
            "text/javascript",
            "application/json",
            "image/svg+xml",
        ]
        self.COMPRESS_MIN_SIZE = 500


def settle(config, instance_path):
    """Check the settings once overrides are in: stop on a setting that production must not
    run with (ConfigError naming it), and make development's local keys and database."""
    environment = config["CONNECT_ENV"]
    if environment not in ENVIRONMENTS:
        raise ConfigError(
            f"CONNECT_ENV={environment!r} is not one of {', '.join(ENVIRONMENTS)} "
            "(unset means production)."
        )
    if environment == DEVELOPMENT:
        # Convenient and local: each key its own random file, so rotating SECRET_KEY (or
        # deleting its file) never moves a public location.
        config["SECRET_KEY"] = config["SECRET_KEY"] or _instance_key(instance_path, "secret_key")
        config["BLUR_SECRET"] = config["BLUR_SECRET"] or _instance_key(
            instance_path, "blur_secret"
        )
        config["SQLALCHEMY_DATABASE_URI"] = (
            config["SQLALCHEMY_DATABASE_URI"] or f"sqlite:///{Path(instance_path) / 'connect.db'}"
        )
    else:
        _require_key("SECRET_KEY", config["SECRET_KEY"], "the same on every host")
        _require_key(
            "BLUR_SECRET",
            config["BLUR_SECRET"],
            "the same on every host, never changed (it places public locations)",
        )
        for number, key in enumerate(config["SECRET_KEY_FALLBACKS"], 1):
            _require_key(f"SECRET_KEY_FALLBACKS (item {number})", key, "a previous SECRET_KEY")
        if not config["SQLALCHEMY_DATABASE_URI"]:
            raise ConfigError(
                "DATABASE_URL is not set: production needs its PostgreSQL "
                "database (postgresql+psycopg://user:password@host/connect); "
                "for a local SQLite run set CONNECT_ENV=development."
            )
    # Flask-WTF signs CSRF tokens with this (itsdangerous takes a list of keys, newest last),
    # so forms opened before a rotation still post.
    config["WTF_CSRF_SECRET_KEY"] = [*config["SECRET_KEY_FALLBACKS"], config["SECRET_KEY"]]


def _require_key(name, value, what):
    if not value:
        raise ConfigError(
            f"{name} is not set: production (CONNECT_ENV unset or {PRODUCTION!r}) needs it, "
            f"{what}. Make one with `python3 -c 'import secrets; print(secrets.token_hex(32))'`; "
            f"for a local run set CONNECT_ENV={DEVELOPMENT}."
        )
    if len(value) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"{name} is {len(value)} characters long: production needs at least "
            f"{MIN_KEY_LENGTH} random ones (`python3 -c 'import secrets; "
            f"print(secrets.token_hex(32))'`)."
        )


def _instance_key(instance_path, name):
    """A random key kept in the instance folder, made once (whichever process is first)."""
    path = Path(instance_path) / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32))
        try:
            # A link appears whole or not at all: gunicorn workers starting together agree.
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
