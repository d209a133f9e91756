"""One phone, one active request: duplicates, refused phones, and the phones held for review."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, or_, select

from connect.areas.services import may_coordinate
from connect.errors import Conflict, Forbidden
from connect.extensions import db
from connect.requests import signals
from connect.requests.models import HelpRequest
from connect.requests.queries import is_requester
from connect.requests.state import ACTIVE
from connect.requests.timeouts import apply_timeouts

ACTIVE_PHONE_INDEX = "uq_help_requests_active_phone"


class DuplicateRequest(Conflict):
    """The phone already has an open or claimed request; details name it only to its owner."""

    code = "duplicate_request"
    message = (
        "This phone number already has an open request. Update that request instead "
        "of posting a new one."
    )
    # The manage token (of those the caller presented) that opens the existing request.
    owner_token = None


class PhoneBlocked(Forbidden):
    """A coordinator blocked this phone from posting (connect.safety.blocking decides)."""

    code = "phone_blocked"
    message = (
        "This phone number cannot post requests. If you think this is a mistake, "
        "call your ward's hotline."
    )
    # What resident pages show on the phone field (the API answers with the message above).
    page_message = _l(
        "This phone number cannot post requests. If you think this is a "
        "mistake, call your ward's hotline."
    )


def check_phone_allowed(phone):
    """Raise PhoneBlocked when a phone may not post (the receivers of phone_check decide)."""
    signals.phone_check.send(phone)


def review_hold():
    """SQL condition: a hidden request still waits for a coordinator's review, or None."""
    conditions = [
        condition
        for _, condition in signals.review_hold.send(HelpRequest)
        if condition is not None
    ]
    return or_(*conditions) if conditions else None


def held_for_review(help_request):
    """Whether a hidden request still waits for a coordinator (it has unresolved reports)."""
    condition = review_hold()
    if help_request.status != "hidden" or condition is None:
        return False
    return db.session.execute(
        select(exists().where(HelpRequest.id == help_request.id, condition))
    ).scalar()


def has_posted(phone):
    """Whether a request carries this phone (any status; a purged one no longer does)."""
    return db.session.execute(select(exists().where(HelpRequest.phone == phone))).scalar()


def active_request_with_phone(phone, exclude_id=None):
    """The open or claimed request with this phone, lapsed leases and expiry applied first."""
    condition = [HelpRequest.phone == phone, HelpRequest.status.in_(ACTIVE)]
    if exclude_id is not None:
        condition.append(HelpRequest.id != exclude_id)
    for request_id in db.session.execute(select(HelpRequest.id).where(*condition)).scalars():
        apply_timeouts(request_id)
    return db.session.execute(
        select(HelpRequest)
        .where(*condition)
        .order_by(HelpRequest.id)
        .limit(1)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def duplicate_of(existing, caller=None, manage_tokens=()):
    """The DuplicateRequest to raise: it names the request only to its owner or coordinator."""
    # Anyone else would learn where a phone number asked for help.
    if existing is None:
        return DuplicateRequest()
    owner_token = next(
        (token for token in manage_tokens if token and is_requester(existing, None, token)), None
    )
    known = (
        owner_token is not None
        or is_requester(existing, caller)
        or may_coordinate(caller, existing.id)
    )
    error = DuplicateRequest(details={"request_id": existing.id} if known else None)
    error.owner_token = owner_token
    return error


def check_phone_free(phone, caller=None, manage_tokens=(), exclude_id=None):
    """Raise DuplicateRequest when another open, claimed or held hidden request has this phone."""
    existing = active_request_with_phone(phone, exclude_id)
    held = review_hold()
    if existing is None and held is not None:
        # A request hidden by reports holds its phone until a coordinator has looked at it:
        # otherwise posting it again would walk around the review.
        existing = db.session.execute(
            select(HelpRequest)
            .where(
                HelpRequest.phone == phone,
                HelpRequest.status == "hidden",
                HelpRequest.purged_at.is_(None),
                held,
                *([HelpRequest.id != exclude_id] if exclude_id else []),
            )
            .order_by(HelpRequest.id)
            .limit(1)
        ).scalar_one_or_none()
    if existing is not None:
        raise duplicate_of(existing, caller, manage_tokens)


def is_active_phone_clash(error):
    """Whether an IntegrityError is the one-active-request-per-phone index refusing a row."""
    text = str(getattr(error, "orig", error))
    return ACTIVE_PHONE_INDEX in text or "help_requests.phone" in text


def raise_phone_clash(phone, caller=None, manage_tokens=(), exclude_id=None):
    """After the index refused a row: the same answer as check_phone_free would have given."""
    raise duplicate_of(active_request_with_phone(phone, exclude_id), caller, manage_tokens)
