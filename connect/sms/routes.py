"""Kannel's two calls into connect: a text received (smsbox's get-url) and a delivery report.

Kannel texts a get-url's answer body back to the sender, and an English apology on any
non-200; its sms-service has ``max-messages = 0`` and these routes answer 200 with an empty
body to whatever they took, so every reply goes out through the outbox instead.
"""

import hmac
import logging
import re

from flask import Blueprint, current_app, request

from connect import clock
from connect.database import writes_on_get
from connect.errors import Forbidden
from connect.extensions import db, limiter
from connect.sms import signals
from connect.sms.models import (
    DELIVERED,
    FAILED,
    IN,
    RECEIVED,
    SENT,
    UNDELIVERED,
    SmsMessage,
)
from connect.sms.proof import REPLY, prove
from connect.validation import normalise_phone

log = logging.getLogger("connect.sms")
bp = Blueprint("sms", __name__, url_prefix="/sms/kannel")
# Longer than any real text (Kannel joins at most a few parts); the rest is not kept.
MAX_TEXT = 1000
# Kannel's delivery report types (%d): delivered, undelivered, buffered, submitted, rejected.
REPORTS = {1: DELIVERED, 2: UNDELIVERED, 4: SENT, 8: SENT, 16: FAILED}
_DIGITS = re.compile(r"^\+?[0-9]{9,15}$")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@bp.before_request
def _writes():
    # Kannel calls with GET, and both calls write (a text in, a report on one out).
    writes_on_get()


def _check_secret():
    expected = current_app.config["SMS_INBOUND_SECRET"]
    given = request.values.get("secret", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("Wrong or missing secret.")


def sender():
    """The sender's number as E.164, or None (a short code, a name, a malformed value)."""
    raw = request.values.get("from", "").strip()
    if not _DIGITS.match(raw):
        return None
    if raw.startswith("84") and len(raw) == 11:
        raw = "+" + raw  # carriers hand over the international form without the plus
    try:
        return normalise_phone(raw)
    except ValueError:
        return None


def _sender_key():
    return f"sms-from:{sender() or 'unknown'}"


@bp.route("/inbound", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_SMS_PER_NUMBER"], key_func=_sender_key)
def inbound():
    """Keep a text from a phone and hand it to whoever answers texts (sms.signals.received)."""
    _check_secret()
    phone = sender()
    if phone is None:
        log.info("sms received from a number that is not a Vietnamese mobile: ignored")
        return "", 200
    reference = request.values.get("id", "")[:64] or None
    if reference and _seen(reference):
        return "", 200  # Kannel handed the same text over again
    text = _text()
    now = clock.now()
    message = SmsMessage(
        direction=IN,
        phone=phone,
        body=text,
        kind="reply",
        status=RECEIVED,
        segments=1,
        attempts=0,
        gateway="kannel",
        gateway_ref=reference,
        created_at=now,
    )
    db.session.add(message)
    prove(phone, now, REPLY)
    db.session.flush()
    signals.received.send(message, text=text)
    return "", 200


def _seen(reference):
    return (
        db.session.query(SmsMessage.id)
        .filter_by(direction=IN, gateway="kannel", gateway_ref=reference)
        .first()
        is not None
    )


def _text():
    """The body as text, or None for binary data (coding 1: 8-bit data)."""
    if request.values.get("coding") == "1":
        return None
    text = request.values.get("text", "")[:MAX_TEXT]
    # No control characters (PostgreSQL refuses NUL in text) and no lone surrogates.
    text = _CONTROLS.sub("", text).encode("utf-8", "replace").decode("utf-8")
    return text


@bp.errorhandler(429)
def _over_the_limit(_error):
    # Kannel would hand the text over again on anything but 200 (five times): a number over
    # its limit is answered 200 and its text dropped.
    log.info("sms received from a number over its limit: dropped")
    return "", 200


@bp.route("/dlr", methods=["GET", "POST"])
def delivery_report():
    """Kannel's report on a text it sent: delivered, undelivered or rejected."""
    _check_secret()
    try:
        message_id, report = int(request.values["msg"]), int(request.values["status"])
    except (KeyError, ValueError):
        return "", 200  # nothing to learn from it; Kannel must not retry
    message = db.session.get(SmsMessage, message_id)
    status = REPORTS.get(report)
    if message is None or status is None or message.status in (DELIVERED, UNDELIVERED, FAILED):
        return "", 200
    if status != SENT:
        message.status, message.finished_at = status, clock.now()
        if status == FAILED:
            message.reason = "rejected by the SMS centre"
    db.session.flush()
    return "", 200
