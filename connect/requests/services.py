"""Help request rules: posting, the claim lifecycle, who may see what."""
import hmac
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update

from connect import clock
from connect.accounts.models import hash_secret, new_secret
from connect.errors import ClaimConflict, Conflict, Forbidden, NotFound
from connect.extensions import db
from connect.geo import blur_point
from connect.matching.changes import change_stamp
from connect.requests.models import Assist, HelpRequest, RequestEvent
from connect.spatial import point


def _lease():
    return timedelta(seconds=current_app.config["CLAIM_LEASE_SECONDS"])


def _expiry():
    return timedelta(seconds=current_app.config["REQUEST_EXPIRY_SECONDS"])


def _stamp():
    return change_stamp(db.session, HelpRequest.change_seq)


def _blur_seed(manage_token_hash):
    # Keyed by a server secret so the offset cannot be recomputed from public data, and by
    # the request so that re-blurring the same place gives the same point (no averaging).
    key = current_app.config["BLUR_SECRET"].encode()
    return hmac.new(key, manage_token_hash.encode(), "sha256").digest()


def record_event(request_id, from_status, to_status, actor, actor_kind, reason=None,
                 assist_id=None, at=None):
    db.session.add(RequestEvent(
        request_id=request_id, from_status=from_status, to_status=to_status,
        actor_id=actor.id if actor is not None else None, actor_kind=actor_kind,
        reason=reason, assist_id=assist_id, created_at=at or clock.now()))


def post_request(data, requester=None, source="api"):
    """Create an open request; returns it and the manage token (shown once, stored hashed)."""
    now = clock.now()
    token = new_secret()
    token_hash = hash_secret(token)
    lat, lon = data["location"]["lat"], data["location"]["lon"]
    blurred = blur_point(lat, lon, _blur_seed(token_hash))
    help_request = HelpRequest(
        categories=list(dict.fromkeys(data["categories"])),
        description=data["description"],
        household_size=data["household_size"],
        urgency=data.get("urgency", "normal"),
        location=point(lat, lon),
        public_location=point(*blurred),
        address=data.get("address") or None,
        contact_name=data["contact_name"],
        phone=data["phone"],
        status="open",
        source=source,
        requester_id=requester.id if requester else None,
        manage_token_hash=token_hash,
        created_at=now, updated_at=now, last_activity_at=now,
        expires_at=now + _expiry(),
        change_seq=_stamp(),
    )
    db.session.add(help_request)
    db.session.flush()
    record_event(help_request.id, None, "open", requester, "requester", "posted", at=now)
    db.session.flush()
    return help_request, token


def get_request(request_id):
    help_request = db.session.get(HelpRequest, request_id)
    if help_request is None:
        raise NotFound("No help request with this id.")
    return help_request


def effective_status(help_request, now=None):
    """The status with lapsed leases and expiry applied, as it will be once persisted."""
    now = now or clock.now()
    status = help_request.status
    if status == "claimed" and help_request.lease_expires_at <= now:
        lapsed_at = help_request.lease_expires_at
        return "expired" if lapsed_at + _expiry() <= now else "open"
    if status == "open" and help_request.expires_at <= now:
        return "expired"
    return status


def is_requester(help_request, user=None, manage_token=None):
    if manage_token and hmac.compare_digest(hash_secret(manage_token),
                                            help_request.manage_token_hash):
        return True
    return user is not None and help_request.requester_id == user.id


def holds_claim(help_request, user, now=None):
    return (user is not None and help_request.claimed_by_id == user.id
            and effective_status(help_request, now) == "claimed")


def can_see_private(help_request, user=None, manage_token=None):
    """Whether the caller may see contact, address and exact point (ARCHITECTURE, Privacy)."""
    return ((user is not None and user.is_staff)
            or is_requester(help_request, user, manage_token)
            or holds_claim(help_request, user))


def apply_timeouts(request_id, now=None):
    """Persist a lapsed lease or an expiry of one request; returns the number changed."""
    now = now or clock.now()
    changed = 0
    lapsed = db.session.execute(
        select(HelpRequest.lease_expires_at, HelpRequest.claimed_by_id)
        .where(HelpRequest.id == request_id, HelpRequest.status == "claimed",
               HelpRequest.lease_expires_at <= now)).first()
    if lapsed is not None:
        changed += _lapse_lease(request_id, lapsed.lease_expires_at, now)
    changed += _expire_open(HelpRequest.id == request_id, now)
    return changed


def _lapse_lease(request_id, lease_end, now):
    result = db.session.execute(
        update(HelpRequest)
        .where(HelpRequest.id == request_id, HelpRequest.status == "claimed",
               HelpRequest.lease_expires_at <= now)
        .values(status="open", claimed_by_id=None, lease_expires_at=None,
                last_activity_at=lease_end, expires_at=lease_end + _expiry(),
                updated_at=now, change_seq=_stamp())
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return 0
    assist = _active_assist(request_id)
    if assist is not None:
        assist.outcome, assist.closed_at = "expired", lease_end
    record_event(request_id, "claimed", "open", None, "system", "claim lease expired",
                 assist_id=assist.id if assist else None, at=lease_end)
    return 1


def _expire_open(condition, now):
    ids = db.session.execute(
        select(HelpRequest.id).where(condition, HelpRequest.status == "open",
                                     HelpRequest.expires_at <= now)).scalars().all()
    changed = 0
    for request_id in ids:
        result = db.session.execute(
            update(HelpRequest)
            .where(HelpRequest.id == request_id, HelpRequest.status == "open",
                   HelpRequest.expires_at <= now)
            .values(status="expired", closed_at=now, updated_at=now, change_seq=_stamp())
            .execution_options(synchronize_session=False))
        if result.rowcount == 1:
            record_event(request_id, "open", "expired", None, "system", "no activity", at=now)
            changed += 1
    return changed


def expire_all(now=None):
    """Persist every lapsed lease and expiry (the `flask connect expire` command)."""
    now = now or clock.now()
    lapsed = db.session.execute(
        select(HelpRequest.id).where(HelpRequest.status == "claimed",
                                     HelpRequest.lease_expires_at <= now)).scalars().all()
    leases = sum(apply_timeouts(request_id, now) for request_id in lapsed)
    expired = _expire_open(HelpRequest.expires_at <= now, now)
    db.session.flush()
    return {"leases_lapsed": leases, "requests_expired": expired}


def _active_assist(request_id):
    return db.session.execute(
        select(Assist).where(Assist.request_id == request_id, Assist.outcome.is_(None))
        .order_by(Assist.id.desc()).limit(1)).scalar_one_or_none()


def active_claims(user_id):
    return db.session.execute(
        select(func.count(Assist.id)).where(Assist.volunteer_id == user_id,
                                            Assist.outcome.is_(None))).scalar_one()


def claim_request(request_id, volunteer):
    """Give the request to this volunteer, if it is still open: exactly one claim wins."""
    from connect.volunteers.services import require_profile

    profile = require_profile(volunteer, for_update=True)
    now = clock.now()
    apply_timeouts(request_id, now)
    if active_claims(volunteer.id) >= profile.capacity:
        raise Conflict("You already hold as many claims as your capacity allows. "
                       "Mark one helped or release it first.", code="capacity_reached",
                       details={"capacity": profile.capacity})
    lease_end = now + _lease()
    result = db.session.execute(
        update(HelpRequest)
        .where(HelpRequest.id == request_id, HelpRequest.status == "open",
               HelpRequest.expires_at > now)
        .values(status="claimed", claimed_by_id=volunteer.id, lease_expires_at=lease_end,
                last_activity_at=now, updated_at=now, change_seq=_stamp())
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        get_request(request_id)  # 404 rather than 409 for a request that never existed
        raise ClaimConflict()
    assist = Assist(request_id=request_id, volunteer_id=volunteer.id, claimed_at=now,
                    lease_expires_at=lease_end)
    db.session.add(assist)
    db.session.flush()
    record_event(request_id, "open", "claimed", volunteer, "volunteer", assist_id=assist.id,
                 at=now)
    db.session.flush()
    return _reloaded(request_id)


def _reloaded(request_id):
    help_request = get_request(request_id)
    db.session.refresh(help_request)
    return help_request


def _transition(request_id, from_statuses, to_status, values, actor, actor_kind, reason,
                extra_where=(), conflict=None):
    """One conditional UPDATE from an allowed status; the caller learns if it lost a race."""
    now = clock.now()
    current = get_request(request_id)
    from_status = current.status
    result = db.session.execute(
        update(HelpRequest)
        .where(HelpRequest.id == request_id, HelpRequest.status.in_(from_statuses),
               *extra_where)
        .values(status=to_status, updated_at=now, last_activity_at=now,
                change_seq=_stamp(), **values)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise conflict or Conflict(f"This request is {from_status}; it cannot become "
                                   f"{to_status}.", code="invalid_transition",
                                   details={"status": from_status})
    return now, from_status


def release_request(request_id, user):
    """The claimant (or a coordinator) gives the request back to the open list."""
    now = clock.now()
    apply_timeouts(request_id, now)
    help_request = _reloaded(request_id)
    if not (user.is_staff or help_request.claimed_by_id == user.id):
        raise Forbidden("Only the volunteer holding the claim can release it.")
    now, _ = _transition(request_id, ("claimed",), "open",
                         dict(claimed_by_id=None, lease_expires_at=None,
                              expires_at=clock.now() + _expiry()),
                         user, _kind(user), "released",
                         extra_where=(HelpRequest.claimed_by_id == help_request.claimed_by_id,))
    _close_assist(request_id, "released", now, user, "claimed", "open", "released")
    return _reloaded(request_id)


def mark_helped(request_id, user):
    """The claimant says the need was met; the requester can then confirm."""
    now = clock.now()
    apply_timeouts(request_id, now)
    help_request = _reloaded(request_id)
    if help_request.claimed_by_id != user.id:
        raise Forbidden("Only the volunteer holding the claim can mark it helped.",
                        code="not_claimant")
    now, _ = _transition(request_id, ("claimed",), "helped",
                         dict(lease_expires_at=None, closed_at=clock.now()),
                         user, "volunteer", None,
                         extra_where=(HelpRequest.claimed_by_id == user.id,
                                      HelpRequest.lease_expires_at > now))
    assist = _active_assist(request_id)
    assist.outcome, assist.helped_at = "helped", now
    record_event(request_id, "claimed", "helped", user, "volunteer", assist_id=assist.id, at=now)
    db.session.flush()
    return _reloaded(request_id)


def confirm_helped(request_id, user, manage_token):
    """The requester confirms they were helped; the assist is then counted as confirmed."""
    help_request = get_request(request_id)
    if not is_requester(help_request, user, manage_token):
        raise Forbidden("Only the person who posted the request can confirm it.")
    now = clock.now()
    apply_timeouts(request_id, now)
    help_request = _reloaded(request_id)
    from_status = help_request.status
    now, _ = _transition(request_id, ("helped", "claimed"), "confirmed",
                         dict(lease_expires_at=None, closed_at=clock.now()),
                         user, "requester", None)
    assist = db.session.execute(
        select(Assist).where(Assist.request_id == request_id,
                             Assist.outcome.in_(("helped",)) | Assist.outcome.is_(None))
        .order_by(Assist.id.desc()).limit(1)).scalar_one_or_none()
    if assist is not None:
        assist.outcome, assist.confirmed_at, assist.closed_at = "confirmed", now, now
        assist.helped_at = assist.helped_at or now
    record_event(request_id, from_status, "confirmed", user, "requester",
                 assist_id=assist.id if assist else None, at=now)
    db.session.flush()
    return _reloaded(request_id)


def cancel_request(request_id, user, manage_token, reason=None):
    """The requester or a coordinator withdraws an open or claimed request."""
    help_request = get_request(request_id)
    staff = user is not None and user.is_staff
    if not (staff or is_requester(help_request, user, manage_token)):
        raise Forbidden("Only the person who posted the request or a coordinator can cancel it.")
    now = clock.now()
    apply_timeouts(request_id, now)
    from_status = _reloaded(request_id).status
    now, _ = _transition(request_id, ("open", "claimed"), "cancelled",
                         dict(claimed_by_id=None, lease_expires_at=None, closed_at=clock.now()),
                         user, "coordinator" if staff else "requester", reason)
    kind = "coordinator" if staff else "requester"
    if from_status == "claimed":
        _close_assist(request_id, "cancelled", now, user, from_status, "cancelled", reason, kind)
    else:
        record_event(request_id, from_status, "cancelled", user, kind, reason, at=now)
    db.session.flush()
    return _reloaded(request_id)


def _close_assist(request_id, outcome, now, user, from_status, to_status, reason, kind=None):
    assist = _active_assist(request_id)
    if assist is not None:
        assist.outcome, assist.closed_at = outcome, now
    record_event(request_id, from_status, to_status, user, kind or _kind(user), reason,
                 assist_id=assist.id if assist else None, at=now)
    db.session.flush()


def _kind(user):
    return user.role if user.is_staff else "volunteer"
