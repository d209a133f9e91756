"""Claim leases seen from the volunteer: a reminder before one ends, and what follows a lapse.

Reminders go out once per claim (``assists.reminded_at``, set by a conditional UPDATE, so
cron and a page read racing each other send one), LEASE_REMINDER_SECONDS before the lease
ends: from `flask connect expire` (cron), and when the volunteer's pages or inbox are read.
"""

from contextlib import contextmanager
from datetime import timedelta

from flask import current_app, has_request_context, request
from sqlalchemy import select, update

from connect import clock
from connect.database import SAFE_METHODS
from connect.extensions import db
from connect.matching.push import public_payload, push_request, reloaded_request
from connect.notifications.delivery import deliver, notify
from connect.requests.models import Assist, HelpRequest
from connect.requests.timeouts import apply_timeouts


def _reminder_window():
    return timedelta(seconds=max(0, current_app.config["LEASE_REMINDER_SECONDS"]))


def remind_due(now=None, user_id=None):
    """Remind every claimant (or only ``user_id``) whose lease ends within the reminder
    window, once per claim; returns how many were reminded."""
    now = now or clock.now()
    window = _reminder_window()
    if not window:
        return 0
    a, r = Assist, HelpRequest
    query = (
        select(a.id, r)
        .join(r, r.id == a.request_id)
        .where(
            a.outcome.is_(None),
            a.reminded_at.is_(None),
            r.is_claimed_at(now),
            r.claimed_by_id == a.volunteer_id,
            r.lease_expires_at <= now + window,
        )
        .order_by(r.lease_expires_at, a.id)
        .execution_options(populate_existing=True)
    )
    if user_id is not None:
        query = query.where(a.volunteer_id == user_id)
    reminded = 0
    for assist_id, help_request in db.session.execute(query).all():
        won = db.session.execute(
            update(a)
            .where(a.id == assist_id, a.reminded_at.is_(None))
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won != 1:
            continue  # another process reminded them a moment ago
        left = help_request.lease_expires_at - now
        notify(
            help_request.claimed_by_id,
            "lease_reminder",
            help_request.id,
            {
                **public_payload(help_request),
                "lease_ends_at": clock.isoformat(help_request.lease_expires_at),
                "minutes_left": max(1, round(left.total_seconds() / 60)),
            },
        )
        reminded += 1
    db.session.flush()
    return reminded


def lease_lapsed(request_id, claimant_id, now=None):
    """After a lapsed lease reopened a request: tell the claimant, and push it again to
    others (not to the claimant, who could not make it)."""
    help_request = reloaded_request(request_id)
    if help_request is None:
        return []
    if claimant_id is not None:
        deliver(
            claimant_id, "lease_expired", request_id, public_payload(help_request), flush=False
        )
    return push_request(help_request, exclude=(claimant_id,) if claimant_id else (), now=now)


def catch_up(user_id, now=None):
    """Before a volunteer's inbox or pages are shown: persist their own lapsed leases (which
    notifies and pushes) and send their due reminders. One query when nothing is due."""
    now = now or clock.now()
    r = HelpRequest
    due = db.session.execute(
        select(r.id, r.lease_expires_at).where(
            r.claimed_by_id == user_id,
            r.status == "claimed",
            r.lease_expires_at <= now + _reminder_window(),
        )
    ).all()
    if not due:
        return
    with _own_write_transaction():
        for request_id, lease_end in due:
            if lease_end <= now:
                apply_timeouts(request_id, now)
        remind_due(now, user_id)


@contextmanager
def _own_write_transaction():
    """During a GET, commit the catch-up in a short write transaction of its own (as the
    reveal log does): a GET reads in a deferred SQLite transaction, and a write in it would
    need a lock upgrade that fails at once when another writer committed since the read
    began. Elsewhere (cron, a POST) the caller's transaction takes the writes."""
    if not (has_request_context() and request.method in SAFE_METHODS):
        yield
        return
    db.session.commit()  # the read so far: nothing written
    db.session.connection(execution_options={"write": True})  # BEGIN IMMEDIATE on SQLite
    try:
        yield
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
