"""Purging personal data a set time after a request closes, keeping what statistics count."""

from datetime import timedelta

from flask import current_app
from sqlalchemy import case, delete, func, select, update

from connect import clock
from connect.changes import change_stamp
from connect.extensions import db
from connect.notifications.models import Notification
from connect.requests.models import HelpRequest, RequestEvent, SmsLink
from connect.requests.state import CLOSED
from connect.requests.timeouts import expire_all
from connect.safety.models import Report
from connect.sms.models import SmsMessage, SmsQuestion
from connect.web.idempotency import purge_expired_keys

_BATCH = 500


def closed_time():
    """SQL: when a request closed. An expired one closed when it expired, which may be long
    before `expire` persisted it (and set closed_at to that later moment)."""
    r = HelpRequest
    return func.coalesce(
        case((r.status == "expired", r.expires_at), else_=r.closed_at), r.updated_at
    )


def due_for_purge(cutoff):
    """SQL: the ids of requests closed at or before cutoff and not purged yet (the partial
    index ix_help_requests_unpurged keeps this scan small)."""
    r = HelpRequest
    return (
        select(r.id)
        .where(r.status.in_(CLOSED), r.purged_at.is_(None), closed_time() <= cutoff)
        .order_by(r.id)
    )


def purge_personal_data(older_than_days=None, now=None):
    """Anonymise requests closed more than older_than_days (default PURGE_AFTER_DAYS) ago.

    Name, phone, address and description are blanked and the exact point becomes the public
    (blurred) one; status, categories, urgency, household size, timestamps, events, assists
    and areas stay, so every count stays the same. Runs persisted expiry first. Flushes,
    never commits; returns the counts.
    """
    now = now or clock.now()
    days = current_app.config["PURGE_AFTER_DAYS"] if older_than_days is None else older_than_days
    if days < 0:
        raise ValueError("older_than_days must be 0 or more")
    cutoff = now - timedelta(days=days)
    expired = expire_all(now)
    r = HelpRequest
    ids = db.session.execute(due_for_purge(cutoff)).scalars().all()
    purged = 0
    for start in range(0, len(ids), _BATCH):
        batch = ids[start : start + _BATCH]
        purged += db.session.execute(
            update(r)
            .where(r.id.in_(batch), r.purged_at.is_(None), r.status.in_(CLOSED))
            .values(
                contact_name="",
                phone="",
                address=None,
                # Free text: people write their address or phone number in it.
                description="",
                location=r.public_location,
                purged_at=now,
                change_seq=change_stamp(db.session, r.change_seq),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        # A reason typed by a person (a cancellation, a moderation note) is free text too;
        # the system's own reasons name no one.
        db.session.execute(
            update(RequestEvent)
            .where(
                RequestEvent.request_id.in_(batch),
                RequestEvent.actor_kind != "system",
                RequestEvent.reason.is_not(None),
            )
            .values(reason=None)
            .execution_options(synchronize_session=False)
        )
        # Texts to and from the requester: their words and their number.
        db.session.execute(
            update(SmsMessage)
            .where(SmsMessage.request_id.in_(batch))
            .values(body=None, phone="")
            .execution_options(synchronize_session=False)
        )
        db.session.execute(delete(SmsQuestion).where(SmsQuestion.request_id.in_(batch)))
        db.session.execute(delete(SmsLink).where(SmsLink.request_id.in_(batch)))
        # Notifications keep a copy of the public fields, the description among them.
        db.session.execute(
            update(Notification)
            .where(Notification.request_id.in_(batch))
            .values(payload={})
            .execution_options(synchronize_session=False)
        )
    # Reports about purged requests, including ones made after an earlier purge.
    comments = db.session.execute(
        update(Report)
        .where(
            Report.subject_type == "request",
            Report.comment.is_not(None),
            Report.subject_id.in_(select(r.id).where(r.purged_at.is_not(None))),
        )
        .values(comment=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    # Stored answers to idempotent posts hold contact details too; they are only for retries.
    keys = purge_expired_keys(now)
    db.session.flush()
    # Rows changed behind the session's back: nothing cached may show the old data.
    db.session.expire_all()
    return {
        **expired,
        "requests_purged": purged,
        "report_comments_removed": comments,
        "idempotency_keys_removed": keys,
        "cutoff": cutoff,
        "older_than_days": days,
    }
