"""Every rate limit in one place: what is counted, by which key, and how much is allowed."""

import math
import time

from flask import current_app, g, request
from flask_limiter.util import get_remote_address
from flask_smorest import Blueprint
from limits import parse_many

from connect.errors import ErrorSchema, envelope
from connect.extensions import limiter
from connect.validation import normalise_phone
from connect.web.identity import current_user


def _configured(name):
    def value():
        return current_app.config[name]

    value.__name__ = name  # what `flask limiter limits` shows
    return value


# -- keys: they run before the view, so they never raise --------------------------------


def client_ip():
    """The client's address (ProxyFix makes it the real one behind a trusted proxy)."""
    return f"ip:{get_remote_address() or 'unknown'}"


def submitted_phone():
    """The phone number in the posted JSON or form, normalised, so every spelling of a
    number shares one counter."""
    if request.is_json:
        body = request.get_json(silent=True)
        raw = body.get("phone") if isinstance(body, dict) else None
    else:
        raw = request.form.get("phone")
    try:
        return f"phone:{normalise_phone(raw)}"
    except ValueError:
        # Such a post fails validation and is never counted; one shared key is enough.
        return "phone:invalid"


def volunteer_account():
    """The signed-in user (bearer token or session); the address for anyone else."""
    try:
        user = current_user()
    except Exception:  # a bad token: the view answers 401, the key must not fail first
        user = None
    return f"user:{user.id}" if user is not None else client_ip()


# -- when a hit is counted ------------------------------------------------------------------


def succeeded(response):
    """Count the hit only when the action went through (201, or a form's redirect)."""
    return response.status_code == 201 or 300 <= response.status_code < 400


def note_failed_login():
    """Mark this request as a failed login (the page answers 422, like a form error)."""
    g.login_failed = True


def login_failed(response):
    return response.status_code == 401 or g.get("login_failed", False)


def note_wrong_code():
    """Mark this request as a wrong one-time code (pages and the API answer 422 for it)."""
    g.wrong_code = True


def code_was_wrong(response):
    return g.get("wrong_code", False)


def retry_after():
    """Whole seconds until the limit this request broke has room again (at least 1)."""
    breached = limiter.current_limit
    if breached is None:
        return 60
    return max(1, math.ceil(breached.window.reset_time - time.time()))


def handle_rate_limited(_error):
    """A 429 in the JSON envelope, with how long to wait (details and Retry-After)."""
    wait = retry_after()
    return envelope(
        429,
        "rate_limited",
        "Too many requests. Please wait and try again.",
        {"retry_after": wait},
        {"Retry-After": str(wait)},
    )


# -- the limits, applied with a decorator on the API route and on the page ----------------
# Shared scopes make the API and the page count against one budget.

# What a limited API operation answers when over its limit; the OpenAPI document lists it.
TOO_MANY_REQUESTS = {
    "description": "Too many requests: try again after Retry-After seconds "
    "(also in details.retry_after).",
    "headers": {
        "Retry-After": {
            "description": "Whole seconds until the limit has room.",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    "content": {"application/json": {"schema": ErrorSchema}},
}


def _limit(*args, **kwargs):
    """A shared limit whose decorator also documents the 429 (pages ignore that)."""
    limit, document = (
        limiter.shared_limit(*args, **kwargs),
        Blueprint.doc(responses={429: TOO_MANY_REQUESTS}),
    )
    return lambda view: document(limit(view))


post_per_phone = _limit(
    _configured("RATELIMIT_POST_PER_PHONE"),
    scope="post-per-phone",
    key_func=submitted_phone,
    methods=["POST"],
    deduct_when=succeeded,
)
post_per_ip = _limit(
    _configured("RATELIMIT_POST_PER_IP"),
    scope="post-per-ip",
    key_func=client_ip,
    methods=["POST"],
    deduct_when=succeeded,
)
register_per_ip = _limit(
    _configured("RATELIMIT_REGISTER_PER_IP"),
    scope="register-per-ip",
    key_func=client_ip,
    methods=["POST"],
)
login_per_phone = _limit(
    _configured("RATELIMIT_LOGIN_FAILURES_PER_PHONE"),
    scope="login-per-phone",
    key_func=submitted_phone,
    methods=["POST"],
    deduct_when=login_failed,
)
login_per_ip = _limit(
    _configured("RATELIMIT_LOGIN_FAILURES_PER_IP"),
    scope="login-per-ip",
    key_func=client_ip,
    methods=["POST"],
    deduct_when=login_failed,
)
claims_per_volunteer = _limit(
    _configured("RATELIMIT_CLAIMS_PER_VOLUNTEER"),
    scope="claims-per-volunteer",
    key_func=volunteer_account,
    methods=["POST"],
)
edits_per_ip = _limit(
    _configured("RATELIMIT_EDITS_PER_IP"),
    scope="edits-per-ip",
    key_func=client_ip,
    methods=["POST", "PATCH"],
)
new_links_per_ip = _limit(
    _configured("RATELIMIT_NEW_LINKS_PER_IP"),
    scope="new-links-per-ip",
    key_func=client_ip,
    methods=["POST"],
)
reports_per_account = _limit(
    _configured("RATELIMIT_REPORTS_PER_ACCOUNT"),
    scope="reports-per-account",
    key_func=volunteer_account,
    methods=["POST"],
    deduct_when=succeeded,
)
offers_per_account = _limit(
    _configured("RATELIMIT_OFFERS_PER_ACCOUNT"),
    scope="offers-per-account",
    key_func=volunteer_account,
    methods=["POST"],
    deduct_when=succeeded,
)
assignments_per_account = _limit(
    _configured("RATELIMIT_ASSIGNMENTS_PER_ACCOUNT"),
    scope="assignments-per-account",
    key_func=volunteer_account,
    methods=["POST"],
)
intake_per_account = _limit(
    _configured("RATELIMIT_INTAKE_PER_ACCOUNT"),
    scope="intake-per-account",
    key_func=volunteer_account,
    methods=["POST"],
)
public_export_per_ip = _limit(
    _configured("RATELIMIT_PUBLIC_EXPORT_PER_IP"),
    scope="public-export-per-ip",
    key_func=client_ip,
    methods=["GET"],
)
codes_per_phone = _limit(
    _configured("RATELIMIT_CODES_PER_PHONE"),
    scope="codes-per-phone",
    key_func=submitted_phone,
    methods=["POST"],
)
codes_per_ip = _limit(
    _configured("RATELIMIT_CODES_PER_IP"),
    scope="codes-per-ip",
    key_func=client_ip,
    methods=["POST"],
)
code_tries_per_phone = _limit(
    _configured("RATELIMIT_CODE_TRIES_PER_PHONE"),
    scope="code-tries-per-phone",
    key_func=submitted_phone,
    methods=["POST"],
    deduct_when=code_was_wrong,
)


# -- limits on work done outside a route of its own -----------------------------------------
# A request posted by SMS arrives through Kannel's one inbound route, whose decorator counts
# texts, not posts: the same per-phone limit is counted here, in a counter of its own.
_TEXT_POSTS = "post-by-text"


def _text_post_limits(phone):
    return parse_many(current_app.config["RATELIMIT_POST_PER_PHONE"]), (_TEXT_POSTS, phone)


def may_post_by_text(phone):
    """Whether this phone has room left under RATELIMIT_POST_PER_PHONE for a post by SMS."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return True
    limits, key = _text_post_limits(phone)
    return all(limiter.limiter.test(limit, *key) for limit in limits)


def count_post_by_text(phone):
    """Count a request this phone posted by SMS."""
    if current_app.config["RATELIMIT_ENABLED"]:
        limits, key = _text_post_limits(phone)
        for limit in limits:
            limiter.limiter.hit(limit, *key)
