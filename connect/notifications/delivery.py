"""Delivering notifications behind one small interface: in-app inbox, log, later SMS or Zalo.

Matching code calls ``notify(...)`` only; which channels deliver is configuration
(``NOTIFY_BACKENDS``, e.g. "inbox,log"), checked when the app starts. A new channel is a class
with ``deliver(notification)`` registered in BACKENDS, without touching matching code. A
channel that leaves the process (SMS, Zalo OA) should send from ``after_commit(...)``, so a
transaction that rolls back sends nothing.
"""
import logging

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from connect import clock
from connect.extensions import db
from connect.notifications.inbox import InboxWaits
from connect.notifications.models import NOTIFICATION_KINDS, Notification

log = logging.getLogger("connect.notify")


class InboxBackend:
    """The in-app inbox: the notification row itself is the message (volunteer pages read it)."""

    name = "inbox"

    def deliver(self, notification):
        db.session.add(notification)
        # Live inbox polls held by this process wake up once the row is committed.
        after_commit(_wake_inbox_waits)


class LoggingBackend:
    """Writes each notification to the log (development, and an audit trail)."""

    name = "log"

    def deliver(self, notification):
        said = (notification.user_id, notification.kind, notification.request_id)
        # Only what was committed: a push rolled back with its request was never sent.
        after_commit(lambda: log.info("notify user %s: %s request %s", *said))


BACKENDS = {backend.name: backend for backend in (InboxBackend, LoggingBackend)}


def check_backends(value):
    """NOTIFY_BACKENDS as a tuple of known channel names; ValueError says what is wrong."""
    names = value.split(",") if isinstance(value, str) else list(value or ())
    names = tuple(dict.fromkeys(str(name).strip() for name in names if str(name).strip()))
    known = ", ".join(BACKENDS)
    unknown = [name for name in names if name not in BACKENDS]
    if unknown:
        raise ValueError(f"NOTIFY_BACKENDS: unknown channel {', '.join(map(repr, unknown))}; "
                         f"the channels are: {known} (comma-separated)")
    if not names:
        raise ValueError(f"NOTIFY_BACKENDS is empty: name at least one of {known}")
    return names


def init_app(app):
    """Check the configured channels at start-up (a typo must not silently drop messages)."""
    app.config["NOTIFY_BACKENDS"] = check_backends(app.config.get("NOTIFY_BACKENDS"))
    app.extensions["inbox_waits"] = InboxWaits(app.config["INBOX_MAX_WAITING"])
    _install_session_hooks()


def notify(user_id, kind, request_id=None, payload=None, flush=True):
    """Tell a user something through every configured channel; returns the Notification.

    ``flush=False`` leaves the INSERT to the next flush, so a caller notifying several people
    sends one statement for all of them.
    """
    if kind not in NOTIFICATION_KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    # Stamped from clock.now() as called now: the column default holds the function it had
    # at import, and the hourly push cap compares these stamps with clock.now().
    notification = Notification(user_id=user_id, kind=kind, request_id=request_id,
                                payload=payload or {}, created_at=clock.now())
    for name in current_app.config["NOTIFY_BACKENDS"]:
        BACKENDS[name]().deliver(notification)
    if flush:
        db.session.flush()
    return notification


# -- after commit ------------------------------------------------------------------------

_AFTER_COMMIT = "connect_after_commit"
_installed = False


def after_commit(callback):
    """Run ``callback()`` once the current transaction commits; never if it rolls back."""
    callbacks = db.session.info.setdefault(_AFTER_COMMIT, [])
    if callback not in callbacks:
        callbacks.append(callback)


def _install_session_hooks():
    global _installed
    if _installed:
        return
    _installed = True
    event.listen(Session, "after_commit", _run_after_commit)
    event.listen(Session, "after_soft_rollback", _drop_after_commit)


def _run_after_commit(session):
    for callback in session.info.pop(_AFTER_COMMIT, ()):
        try:
            callback()
        except Exception:  # the transaction is committed: a failed extra must not undo it
            log.exception("after-commit notification step failed")


def _drop_after_commit(session, previous_transaction):
    if not previous_transaction.nested:  # a savepoint rolled back; the transaction goes on
        session.info.pop(_AFTER_COMMIT, None)


def _wake_inbox_waits():
    if has_app_context():
        waits = current_app.extensions.get("inbox_waits")
        if waits is not None:
            waits.wake()
