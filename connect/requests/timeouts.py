"""Time in a request's life: lapsed leases reopen it, stale open ones expire; and the event
record and change stamp every write of a request carries."""

from sqlalchemy import select, update

from connect import clock
from connect.changes import change_stamp
from connect.extensions import db
from connect.requests import signals
from connect.requests.models import Assist, HelpRequest, RequestEvent
from connect.requests.state import expiry_period, reopened_expiry


def stamp():
    """The change stamp for a row this transaction writes (see connect.changes)."""
    return change_stamp(db.session, HelpRequest.change_seq)


def record_event(
    request_id, from_status, to_status, actor, actor_kind, reason=None, assist_id=None, at=None
):
    db.session.add(
        RequestEvent(
            request_id=request_id,
            from_status=from_status,
            to_status=to_status,
            actor_id=actor.id if actor is not None else None,
            actor_kind=actor_kind,
            reason=reason,
            assist_id=assist_id,
            created_at=at or clock.now(),
        )
    )


def apply_timeouts(request_id, now=None):
    """Persist a lapsed lease or an expiry of one request; returns the number changed."""
    now = now or clock.now()
    changed = 0
    lapsed = db.session.execute(
        select(HelpRequest.lease_expires_at, HelpRequest.claimed_by_id).where(
            HelpRequest.id == request_id, HelpRequest.lease_lapsed(now)
        )
    ).first()
    if lapsed is not None:
        changed += _lapse_lease(request_id, lapsed.lease_expires_at, now)
    changed += _expire_open(now, HelpRequest.id == request_id)
    return changed


def _lapse_lease(request_id, lease_end, now):
    result = db.session.execute(
        update(HelpRequest)
        .where(HelpRequest.id == request_id, HelpRequest.lease_lapsed(now))
        .values(
            status="open",
            claimed_by_id=None,
            lease_expires_at=None,
            last_activity_at=lease_end,
            expires_at=reopened_expiry(lease_end, expiry_period()),
            updated_at=now,
            change_seq=stamp(),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return 0
    assist = active_assist(request_id)
    if assist is not None:
        assist.outcome, assist.closed_at = "expired", lease_end
    record_event(
        request_id,
        "claimed",
        "open",
        None,
        "system",
        "claim lease expired",
        assist_id=assist.id if assist else None,
        at=lease_end,
    )
    signals.lease_lapsed.send(
        request_id, claimant_id=assist.volunteer_id if assist else None, now=now
    )
    return 1


def _expire_open(now, *conditions):
    ids = (
        db.session.execute(select(HelpRequest.id).where(*conditions, HelpRequest.past_expiry(now)))
        .scalars()
        .all()
    )
    changed = 0
    for request_id in ids:
        result = db.session.execute(
            update(HelpRequest)
            .where(HelpRequest.id == request_id, HelpRequest.past_expiry(now))
            .values(status="expired", closed_at=now, updated_at=now, change_seq=stamp())
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            record_event(request_id, "open", "expired", None, "system", "no activity", at=now)
            changed += 1
    return changed


def expire_all(now=None):
    """Persist every lapsed lease and expiry (the `flask connect expire` command)."""
    now = now or clock.now()
    lapsed = db.session.execute(
        select(HelpRequest.id, HelpRequest.lease_expires_at).where(HelpRequest.lease_lapsed(now))
    ).all()
    leases = sum(_lapse_lease(request_id, lease_end, now) for request_id, lease_end in lapsed)
    # A lease that lapsed long ago may have expired since: that is counted here, once.
    expired = _expire_open(now)
    db.session.flush()
    return {"leases_lapsed": leases, "requests_expired": expired}


def active_assist(request_id):
    return db.session.execute(
        select(Assist)
        .where(Assist.request_id == request_id, Assist.outcome.is_(None))
        .order_by(Assist.id.desc())
        .limit(1)
    ).scalar_one_or_none()
