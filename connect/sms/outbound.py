"""Sending a text: queued in the caller's transaction, sent by the outbox worker through the gateway.

``send_text`` writes the message row and one outbox event; the worker's handler checks the
opt-out, quiet hours and budgets, then hands the text to the gateway (SMS_BACKEND). A gateway's
passing failure is retried with the outbox's backoff up to SMS_MAX_ATTEMPTS; a refusal fails the
message for good, and admins see it in the console.
"""

import logging
from datetime import timedelta

from flask import current_app

from connect import clock
from connect.config import ConfigError
from connect.extensions import db
from connect.outbox.queue import enqueue, handles
from connect.outbox.worker import backoff
from connect.sms import budget, signals
from connect.sms.gateways import Outgoing, PermanentFailure, TemporaryFailure, make_gateway
from connect.sms.models import (
    FAILED,
    FELL_BACK,
    OPTED_OUT,
    OUT,
    QUEUED,
    SENT,
    WAITING,
    SmsMessage,
    SmsOptOut,
)
from connect.sms.text import MAX_SEGMENTS, UCS2, encoding, fold, segments

log = logging.getLogger("connect.sms")
SEND_TOPIC = "sms-send"
# Kinds a number gets even after STOP: the codes it asks for itself, and the one text that
# says STOP was heard.
ASKED_FOR = frozenset({"code", "stopped"})
# Kinds whose words are a secret (a one-time code): kept only until the text leaves the queue,
# and dropped if they could not leave while the code works.
SECRET = frozenset({"code"})


def init_app(app):
    """The gateway SMS_BACKEND names, made once (a typo stops the start with a clear error)."""
    try:
        app.extensions["sms_gateway"] = make_gateway(app.config)
        budget.parse_quiet_hours(app.config["SMS_QUIET_HOURS"])
    except ValueError as error:
        raise ConfigError(str(error)) from error


def send_text(phone, body, kind, **details):
    """Queue ``body`` for ``phone`` (sent after the commit); returns the message row.

    ``details``: locale, urgent (may pass quiet hours, never the caps), request_id (the body
    is erased with that request), user_id and fallback (over budget, the user's inbox gets
    ``fallback`` instead).
    """
    if current_app.config["SMS_ASCII_FOLD"]:
        body = fold(body)
    parts = segments(body)
    if parts > MAX_SEGMENTS:
        # Every text is written to fit; a longer one is a bug, not something to cut silently.
        raise ValueError(f"the {kind!r} text is {parts} segments long (at most {MAX_SEGMENTS})")
    message = SmsMessage(
        direction=OUT,
        phone=phone,
        body=body,
        kind=kind,
        status=QUEUED,
        segments=parts,
        attempts=0,
        created_at=clock.now(),
        **details,
    )
    db.session.add(message)
    db.session.flush()
    enqueue(SEND_TOPIC, {"message_id": message.id})
    return message


def public_url(path):
    """An address in a text: PUBLIC_BASE_URL and ``path`` (which starts with a slash)."""
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def opted_out(phone):
    return db.session.get(SmsOptOut, phone) is not None


@handles(SEND_TOPIC)
def _send(event):
    message = db.session.get(SmsMessage, event["message_id"])
    if message is None or message.status not in (QUEUED, WAITING):
        return  # sent already (an event taken twice), or its request was purged
    send(message, clock.now())


def send(message, now):
    """Send one queued message now, or say why it waits, fell back or failed."""
    config = current_app.config
    if message.body is None:
        _finish(message, FAILED, now, "erased with its request before it could go")
        return
    if message.kind in SECRET and now >= message.created_at + timedelta(
        minutes=config["SMS_CODE_MINUTES"]
    ):
        _finish(message, FAILED, now, "the code stopped working before it could be sent")
        return
    if message.kind not in ASKED_FOR and opted_out(message.phone):
        _finish(message, OPTED_OUT, now, "the number sent STOP")
        return
    quiet = None if message.urgent else budget.quiet_until(now, config)
    if quiet is not None:
        _wait(message, budget.QUIET, quiet)
        return
    over = budget.over_budget(message.phone, now, config)
    if over is not None:
        reason, until = over
        if message.fallback is not None:
            _finish(message, FELL_BACK, now, reason)
            signals.fell_back.send(message)
        else:
            _wait(message, reason, until)
        return
    gateway = current_app.extensions["sms_gateway"]
    message.attempts += 1
    try:
        gateway.send(
            Outgoing(
                id=message.id,
                to=message.phone,
                text=message.body,
                unicode=encoding(message.body) == UCS2,
            )
        )
    except PermanentFailure as error:
        _finish(message, FAILED, now, f"refused by the gateway: {error}")
    except TemporaryFailure as error:
        if message.attempts >= config["SMS_MAX_ATTEMPTS"]:
            _finish(message, FAILED, now, f"gave up after {message.attempts} tries: {error}")
        else:
            message.reason = f"try {message.attempts} failed: {error}"
            retry = now + timedelta(seconds=backoff(message.attempts, config))
            _wait(message, None, retry, status=QUEUED)
    else:
        message.status, message.sent_at, message.gateway = SENT, now, gateway.name
        message.reason = None
        _forget_secret(message)
        log.info("sms %s sent (%s, %d segments)", message.id, message.kind, message.segments)
    db.session.flush()


def _wait(message, reason, until, status=WAITING):
    message.status, message.not_before = status, until
    if reason is not None:
        message.reason = reason
    enqueue(SEND_TOPIC, {"message_id": message.id}, not_before=until)
    db.session.flush()


def _finish(message, status, now, reason):
    message.status, message.finished_at, message.reason = status, now, reason[:200]
    _forget_secret(message)
    log.info("sms %s %s (%s)", message.id, status, message.kind)
    db.session.flush()


def _forget_secret(message):
    if message.kind in SECRET:
        message.body = None
