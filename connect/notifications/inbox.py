"""The in-app inbox: a user's notifications, read marks, and waiting for new ones (long polling).

A held poll costs a thread of its gunicorn worker for up to INBOX_WAIT_SECONDS, so each
process holds at most INBOX_MAX_WAITING polls at once and answers any more at once (the pages
then poll again after a pause). While held, a poll re-checks the database every
CHECK_EVERY_S seconds (rows committed by other workers or hosts) and wakes at once when this
process commits a notification; it holds no transaction or connection while it waits.
"""

import threading
import time
from contextlib import contextmanager

from flask import current_app
from sqlalchemy import func, select, update

from connect import clock
from connect.accounts.models import Volunteer
from connect.extensions import db
from connect.notifications import signals
from connect.notifications.models import Notification
from connect.requests.models import HelpRequest
from connect.requests.queries import effective_status

CHECK_EVERY_S = 1.0
MAX_LIMIT = 100


class InboxWaits:
    """Per process: a bounded number of held polls, and a wake-up for new notifications."""

    def __init__(self, max_waiting):
        self.max_waiting = max(0, int(max_waiting))
        self._slots = threading.BoundedSemaphore(self.max_waiting) if self.max_waiting else None
        self._changed = threading.Condition()
        self._generation = 0

    @contextmanager
    def slot(self):
        """Yields whether this poll may be held (never blocks)."""
        held = self._slots is not None and self._slots.acquire(blocking=False)
        try:
            yield held
        finally:
            if held:
                self._slots.release()

    def generation(self):
        with self._changed:
            return self._generation

    def wake(self):
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def wait(self, generation, timeout):
        """Sleep up to ``timeout`` unless something was committed since ``generation``."""
        with self._changed:
            if self._generation == generation:
                self._changed.wait(timeout)


def poll_inbox(user, after=None, before=None, limit=50, wait=0, now=None):
    """A page of the user's inbox, newest last, with the unread count.

    ``after``: notifications after that id, oldest first (what a live page asks for); else
    the latest ones (before ``before`` if given). ``wait`` seconds (with ``after``): hold the
    poll until there is something after it. Due lease reminders and the user's own lapsed
    leases are caught up first (the receivers of ``inbox_opening``).
    """
    user_id = user.id
    signals.inbox_opening.send(user_id, now=now)
    live = True
    if wait and after is not None and not _has_after(user_id, after):
        # A held poll must hold no transaction: on SQLite a pending write would lock out
        # every other writer for the whole wait.
        db.session.commit()
        live = _wait_for_notifications(user_id, after, min(wait, _max_wait()))
    items, has_more = notifications_of(user_id, after, before, limit)
    last_id = items[-1]["id"] if items else (after or 0)
    return {
        "items": items,
        "has_more": has_more,
        "last_id": last_id,
        "unread": unread_count(user_id),
        "muted": is_muted(user_id),
        "live": live,
    }


def _max_wait():
    return max(0, current_app.config["INBOX_WAIT_SECONDS"])


def _has_after(user_id, after):
    return (
        db.session.execute(
            select(Notification.id)
            .where(Notification.user_id == user_id, Notification.id > after)
            .limit(1)
        ).first()
        is not None
    )


def _wait_for_notifications(user_id, after, seconds):
    """Hold until the user has a notification after ``after`` or ``seconds`` pass; False
    when this process already holds as many polls as it may (answer at once)."""
    waits = current_app.extensions["inbox_waits"]
    with waits.slot() as held:
        if not held:
            return False
        deadline = time.monotonic() + seconds
        while True:
            generation = waits.generation()
            if _has_after(user_id, after):
                return True
            db.session.rollback()  # end the read: no snapshot or connection held meanwhile
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            waits.wait(generation, min(CHECK_EVERY_S, left))


def notifications_of(user_id, after=None, before=None, limit=50, now=None):
    """(items, has_more): the user's notifications as the inbox shows them, newest last."""
    now = now or clock.now()
    n, r = Notification, HelpRequest
    query = (
        select(n, r)
        .outerjoin(r, r.id == n.request_id)
        .where(n.user_id == user_id)
        .limit(limit + 1)
    )
    if after is not None:
        rows = db.session.execute(query.where(n.id > after).order_by(n.id)).all()
    else:
        if before is not None:
            query = query.where(n.id < before)
        rows = db.session.execute(query.order_by(n.id.desc())).all()[::-1]
    has_more = len(rows) > limit
    rows = rows[:limit] if after is not None else rows[-limit:]
    return [
        _item(notification, help_request, now) for notification, help_request in rows
    ], has_more


def _item(notification, help_request, now):
    payload = dict(notification.payload or {})
    open_now = False
    if help_request is not None:
        status = effective_status(help_request, now)
        open_now = status == "open"
        if status == "hidden":
            # Moderated out of every list: its text is no longer shown to anyone.
            payload.pop("description", None)
        else:
            # As the requester has it now (edited, or blanked by the purge).
            payload["description"] = help_request.description
    return {
        "id": notification.id,
        "kind": notification.kind,
        "request_id": notification.request_id,
        "created_at": clock.isoformat(notification.created_at),
        "read": notification.read_at is not None,
        "request_open": open_now,
        "payload": payload,
    }


def unread_count(user_id):
    return db.session.execute(
        select(func.count(Notification.id)).where(
            Notification.user_id == user_id, Notification.read_at.is_(None)
        )
    ).scalar_one()


def is_muted(user_id):
    """Push notifications are off: no volunteer profile, or not on duty."""
    on_duty = db.session.execute(
        select(Volunteer.on_duty).where(Volunteer.user_id == user_id)
    ).scalar()
    return not on_duty


def mark_read(user, up_to=None, now=None):
    """Mark the user's notifications up to id ``up_to`` (all when None) read; returns
    {"marked", "unread"}. Other users' notifications are never touched."""
    now = now or clock.now()
    n = Notification
    query = update(n).where(n.user_id == user.id, n.read_at.is_(None))
    if up_to is not None:
        query = query.where(n.id <= up_to)
    marked = db.session.execute(
        query.values(read_at=now).execution_options(synchronize_session=False)
    ).rowcount
    db.session.flush()
    return {"marked": marked, "unread": unread_count(user.id)}
