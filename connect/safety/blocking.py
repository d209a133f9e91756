"""Blocked phone numbers: a coordinator stops a phone posting requests, and may lift it again.

A block is made from a request (which scopes who may see and lift it: coordinators of the
request's areas, admins everywhere), hides that request when it is still live, and is
recorded on it with who and why. Posting or moving a request to a blocked phone is refused.
"""

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from connect import clock
from connect.accounts.models import STAFF_ROLES, User
from connect.areas.models import CoordinatorArea, RequestArea
from connect.areas.services import may_coordinate
from connect.clock import isoformat
from connect.errors import Conflict, Forbidden, NotFound
from connect.extensions import db
from connect.requests.errors import RequestPurged
from connect.requests.models import HelpRequest
from connect.requests.phones import PhoneBlocked
from connect.requests.privacy import log_reveal
from connect.requests.services import hide_request
from connect.requests.state import ACTIVE, MODERATED
from connect.requests.timeouts import record_event
from connect.safety import moderation, reports
from connect.safety.models import BlockedPhone
from connect.validation import normalise_phone

ACTIVE_BLOCK_INDEX = "uq_blocked_phones_active"
_EVENT_REASON_LENGTH = 200


class AlreadyLifted(Conflict):
    code, message = "already_lifted", "This block was lifted already."


class AlreadyBlocked(Conflict):
    code = "already_blocked"
    message = "This phone number is blocked already."


def _normalised(phone):
    # Requests store E.164 already; a number written another way still finds its block.
    try:
        return normalise_phone(phone)
    except ValueError:
        return phone


def active_block(phone):
    """The block in force on this phone, or None."""
    if not phone:
        return None
    return db.session.execute(
        select(BlockedPhone).where(
            BlockedPhone.phone == _normalised(phone), BlockedPhone.lifted_at.is_(None)
        )
    ).scalar_one_or_none()


def check_phone_allowed(phone):
    """Raise PhoneBlocked when a block is in force on this phone (a phone_check receiver)."""
    if active_block(phone) is not None:
        raise PhoneBlocked()


def blocked_request_ids(request_ids):
    """Those of these requests whose phone is blocked now."""
    if not request_ids:
        return set()
    return set(
        db.session.execute(
            select(HelpRequest.id)
            .join(
                BlockedPhone,
                and_(BlockedPhone.phone == HelpRequest.phone, BlockedPhone.lifted_at.is_(None)),
            )
            .where(HelpRequest.id.in_(request_ids))
        ).scalars()
    )


# -- blocking and lifting ---------------------------------------------------------------


def block_phone(request_id, actor, reason):
    """Block the request's phone; hide the request if it is live; returns the block."""
    moderation.require_moderator(actor, request_id)
    # Row-locked: two blocks from the same request queue, the second then sees the first.
    help_request = reports.SUBJECTS["request"].lock(request_id)
    if help_request.purged_at is not None or not help_request.phone:
        raise RequestPurged(
            "This request's personal data was purged; its phone is no longer known."
        )
    phone = help_request.phone
    existing = active_block(phone)
    if existing is not None:
        raise AlreadyBlocked(details={"block_id": existing.id})
    now = clock.now()
    block = BlockedPhone(
        phone=phone, request_id=request_id, reason=reason, blocked_by_id=actor.id, created_at=now
    )
    try:
        with db.session.begin_nested():
            db.session.add(block)
    except IntegrityError as exc:
        # A block of the same phone from another request committed after the check above.
        if ACTIVE_BLOCK_INDEX not in str(exc.orig) and "blocked_phones.phone" not in str(exc.orig):
            raise
        raise AlreadyBlocked() from None
    was = help_request.status
    if was in ACTIVE:
        hide_request(request_id, actor, _event_reason("hidden", f"phone blocked: {reason}"))
    if was in MODERATED:
        # A phone worth blocking proves its reports right.
        reports.resolve_reports("request", request_id, actor, "upheld")
    status = _status_of(request_id)
    record_event(
        request_id, status, status, actor, actor.role, _event_reason("phone blocked", reason)
    )
    db.session.flush()
    return block


def lift_block(block_id, actor, reason):
    """End a block in force; recorded on the request it was made from."""
    block = visible_block(block_id, actor)
    now = clock.now()
    result = db.session.execute(
        update(BlockedPhone)
        .where(BlockedPhone.id == block_id, BlockedPhone.lifted_at.is_(None))
        .values(lifted_at=now, lifted_by_id=actor.id, lift_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise AlreadyLifted()
    if block.request_id is not None:
        status = _status_of(block.request_id)
        record_event(
            block.request_id,
            status,
            status,
            actor,
            actor.role,
            _event_reason("block lifted", reason),
            at=now,
        )
    db.session.flush()
    db.session.refresh(block)
    return block


def visible_block(block_id, user):
    """The block, if the user may see it; 403 whether it exists or not for anyone else."""
    block = db.session.get(BlockedPhone, block_id)
    if block is None or not may_see_block(user, block):
        # Blocks name phone numbers: whoever may not see one cannot tell whether it exists.
        if block is None and user is not None and user.role == "admin":
            raise NotFound("No blocked phone with this id.")
        raise Forbidden(
            "Only a coordinator of the area of the request it was blocked from, "
            "or an admin, can do this.",
            code="not_coordinator",
        )
    return block


def may_see_block(user, block):
    if user is not None and user.role == "admin":
        return True
    return block.request_id is not None and may_coordinate(user, block.request_id)


def _status_of(request_id):
    return db.session.execute(
        select(HelpRequest.status).where(HelpRequest.id == request_id)
    ).scalar_one()


def _event_reason(prefix, reason):
    return f"{prefix}: {reason}"[:_EVENT_REASON_LENGTH]


# -- the list ---------------------------------------------------------------------------


def blocks(user, page=1, per_page=20):
    """(items, total): blocks made from requests in the caller's areas (all for admins),
    those in force first, newest first."""
    if user is None or user.role not in STAFF_ROLES:
        raise Forbidden("Only coordinators and admins see blocked phones.", code="not_coordinator")
    b = BlockedPhone
    condition = []
    if user.role != "admin":
        condition.append(
            b.request_id.in_(
                select(RequestArea.request_id)
                .join(CoordinatorArea, CoordinatorArea.area_id == RequestArea.area_id)
                .where(CoordinatorArea.user_id == user.id)
            )
        )
    total = db.session.execute(select(func.count(b.id)).where(*condition)).scalar_one()
    blocker, lifter = aliased(User), aliased(User)
    rows = db.session.execute(
        select(b, blocker.name, lifter.name)
        .join(blocker, blocker.id == b.blocked_by_id)
        .outerjoin(lifter, lifter.id == b.lifted_by_id)
        .where(*condition)
        .order_by(case((b.lifted_at.is_(None), 0), else_=1), b.created_at.desc(), b.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return [
        block_item(block, blocked_by, lifted_by) for block, blocked_by, lifted_by in rows
    ], total


def block_item(block, blocked_by=None, lifted_by=None):
    """What the API and the console show of a block."""
    if blocked_by is None:
        blocked_by = db.session.get(User, block.blocked_by_id).name
    if lifted_by is None and block.lifted_by_id is not None:
        lifted_by = db.session.get(User, block.lifted_by_id).name
    return {
        "id": block.id,
        "phone": block.phone,
        "request_id": block.request_id,
        "reason": block.reason,
        "blocked_by": blocked_by,
        "created_at": isoformat(block.created_at),
        "lifted_at": isoformat(block.lifted_at) if block.lifted_at else None,
        "lifted_by": lifted_by,
        "lift_reason": block.lift_reason,
    }


def log_shown(items, user, channel):
    """Log the phones shown as contact reveals of the requests they were blocked from."""
    for request_id in sorted(
        {item["request_id"] for item in items if item["request_id"] is not None}
    ):
        log_reveal(request_id, user.id, user.role, channel)
