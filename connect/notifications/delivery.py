"""Delivering notifications behind one small interface: in-app inbox, log, later SMS or Web Push.

Code that tells someone something calls ``notify(...)``, which writes one outbox event in the
caller's transaction; the outbox worker then delivers it through every configured channel
(``NOTIFY_BACKENDS``, e.g. "inbox,log", checked when the app starts). Work already running in
the worker (push matching's fan-out) calls ``deliver(...)`` directly. A new channel is a class
with ``deliver(notification)`` registered in BACKENDS, without touching the callers.
"""

import logging

from flask import current_app, has_app_context

from connect import clock
from connect.accounts.models import User
from connect.accounts.services import get_profile
from connect.database import after_commit
from connect.extensions import db
from connect.notifications import render
from connect.notifications.inbox import InboxWaits
from connect.notifications.models import NOTIFICATION_KINDS, Notification
from connect.outbox.queue import enqueue, handles
from connect.sms import signals as sms_signals
from connect.sms.outbound import send_text

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


class SmsBackend:
    """A text to the user's phone, for the kinds a volunteer turned texts on for (profile);
    over budget it falls back to the inbox (connect.sms.outbound)."""

    name = "sms"
    KINDS = ("assigned", "lease_reminder")

    def deliver(self, notification):
        if notification.kind not in self.KINDS:
            return
        user = db.session.get(User, notification.user_id)
        profile = get_profile(user) if user is not None else None
        if profile is None or not profile.sms_alerts:
            return
        locale = current_app.config["BABEL_DEFAULT_LOCALE"]
        send_text(
            user.phone,
            render.sms_notice(
                notification.kind, notification.request_id, notification.payload, locale
            ),
            notification.kind,
            locale=locale,
            # A lease runs out in minutes: its reminder may pass quiet hours.
            urgent=notification.kind == "lease_reminder"
            or notification.payload.get("urgency") == "urgent",
            request_id=notification.request_id,
            user_id=user.id,
            fallback={"kind": notification.kind, "payload": notification.payload},
        )


BACKENDS = {backend.name: backend for backend in (InboxBackend, LoggingBackend, SmsBackend)}


def check_backends(value):
    """NOTIFY_BACKENDS as a tuple of known channel names; ValueError says what is wrong."""
    names = value.split(",") if isinstance(value, str) else list(value or ())
    names = tuple(dict.fromkeys(str(name).strip() for name in names if str(name).strip()))
    known = ", ".join(BACKENDS)
    unknown = [name for name in names if name not in BACKENDS]
    if unknown:
        raise ValueError(
            f"NOTIFY_BACKENDS: unknown channel {', '.join(map(repr, unknown))}; "
            f"the channels are: {known} (comma-separated)"
        )
    if not names:
        raise ValueError(f"NOTIFY_BACKENDS is empty: name at least one of {known}")
    return names


def init_app(app):
    """Check the configured channels at start-up (a typo must not silently drop messages)."""
    app.config["NOTIFY_BACKENDS"] = check_backends(app.config.get("NOTIFY_BACKENDS"))
    app.extensions["inbox_waits"] = InboxWaits(app.config["INBOX_MAX_WAITING"])
    sms_signals.fell_back.connect(_to_the_inbox_instead)


def _to_the_inbox_instead(message):
    """A text over budget: its user reads it in the inbox (unless the inbox has it already)."""
    if "inbox" in current_app.config["NOTIFY_BACKENDS"] or message.user_id is None:
        return
    fallback = message.fallback or {}
    InboxBackend().deliver(
        Notification(
            user_id=message.user_id,
            kind=fallback.get("kind", message.kind),
            request_id=message.request_id,
            payload=fallback.get("payload") or {},
            created_at=clock.now(),
        )
    )


NOTIFY_TOPIC = "notify"


def notify(user_id, kind, request_id=None, payload=None):
    """Tell a user something: an outbox event, delivered by the worker after the commit."""
    _check_kind(kind)
    return enqueue(
        NOTIFY_TOPIC,
        {"user_id": user_id, "kind": kind, "request_id": request_id, "payload": payload or {}},
    )


@handles(NOTIFY_TOPIC)
def _deliver_event(event):
    deliver(event["user_id"], event["kind"], event.get("request_id"), event.get("payload"))


def deliver(user_id, kind, request_id=None, payload=None, flush=True):
    """Deliver a notification through every configured channel now; returns it.

    ``flush=False`` leaves the INSERT to the next flush, so a caller notifying several people
    sends one statement for all of them.
    """
    _check_kind(kind)
    # Stamped from clock.now() as called now: the column default holds the function it had
    # at import, and the hourly push cap compares these stamps with clock.now().
    notification = Notification(
        user_id=user_id,
        kind=kind,
        request_id=request_id,
        payload=payload or {},
        created_at=clock.now(),
    )
    for name in current_app.config["NOTIFY_BACKENDS"]:
        BACKENDS[name]().deliver(notification)
    if flush:
        db.session.flush()
    return notification


def _check_kind(kind):
    if kind not in NOTIFICATION_KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")


def _wake_inbox_waits():
    if has_app_context():
        waits = current_app.extensions.get("inbox_waits")
        if waits is not None:
            waits.wake()
