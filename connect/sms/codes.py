"""One-time codes sent by SMS: six digits for a phone and a purpose, used once.

A code is kept only as an HMAC keyed with SECRET_KEY: a copy of the table is no use without
the key, and checking costs microseconds. (A slow hash such as argon2 would not protect a
six-digit code from whoever holds the table, one million guesses being cheap either way, and
would make every check a CPU cost anyone can ask for.) A code works for SMS_CODE_MINUTES and
SMS_CODE_TRIES tries; asking again replaces it. A try is counted before the comparison, by
one UPDATE that two racing tries cannot both pass on the last try, and stays counted though
the request answers an error.
"""

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from connect import clock
from connect.errors import ValidationFailed
from connect.extensions import db
from connect.sms.models import PhoneCode
from connect.sms.proof import CODE, prove
from connect.web.boundary import keep_despite_refusal
from connect.web.ratelimits import note_wrong_code

# Password reset, proving a requester's phone, getting a lost manage link again.
RESET, VERIFY, RESEND = "reset", "verify", "resend"
PURPOSES = frozenset({RESET, VERIFY, RESEND})
DIGITS = 6


class InvalidCode(ValidationFailed):
    """The code is wrong, used, expired, out of tries, or was never sent: one answer for all,
    so that it never tells whether a number has an account or a request."""

    code = "invalid_code"
    message = (
        "This code is not right, or no longer works (it works once, for a few minutes and "
        "a few tries). Ask for a new code."
    )


def _digest(phone, purpose, code):
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{purpose}:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def issue(phone, purpose, now=None):
    """A new code for ``phone`` and ``purpose`` (the older ones stop working); returns it."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown code purpose {purpose!r}")
    now = now or clock.now()
    db.session.execute(
        delete(PhoneCode)
        .where(PhoneCode.phone == phone, PhoneCode.purpose == purpose)
        .execution_options(synchronize_session=False)
    )
    code = f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"
    minutes = current_app.config["SMS_CODE_MINUTES"]
    db.session.add(
        PhoneCode(
            phone=phone,
            purpose=purpose,
            code_hash=_digest(phone, purpose, code),
            tries=0,
            created_at=now,
            expires_at=now + timedelta(minutes=minutes),
        )
    )
    db.session.flush()
    return code


def use(phone, purpose, code, now=None):
    """Use the code sent to ``phone`` for ``purpose``: the phone is proven, and the code works
    no more. InvalidCode when it does not work; a wrong one has cost a try."""
    now = now or clock.now()
    found = db.session.execute(
        select(PhoneCode.id, PhoneCode.code_hash)
        .where(PhoneCode.phone == phone, PhoneCode.purpose == purpose)
        .order_by(PhoneCode.id.desc())
        .limit(1)
    ).first()
    if found is None:
        raise _refused()
    taken = db.session.execute(
        update(PhoneCode)
        .where(
            PhoneCode.id == found.id,
            PhoneCode.used_at.is_(None),
            PhoneCode.expires_at > now,
            PhoneCode.tries < current_app.config["SMS_CODE_TRIES"],
        )
        .values(tries=PhoneCode.tries + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        raise _refused()
    if not hmac.compare_digest(found.code_hash, _digest(phone, purpose, str(code))):
        raise _refused()
    db.session.execute(
        update(PhoneCode)
        .where(PhoneCode.id == found.id)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    prove(phone, now, CODE)
    db.session.flush()


def _refused():
    # The try just taken stays taken (the request answers an error, and would roll it back),
    # and the phone's wrong tries are counted (RATELIMIT_CODE_TRIES_PER_PHONE).
    keep_despite_refusal()
    note_wrong_code()
    return InvalidCode()


def forget_expired(cutoff):
    """Delete codes that stopped working before ``cutoff``; returns how many."""
    return db.session.execute(
        delete(PhoneCode)
        .where(PhoneCode.expires_at < cutoff)
        .execution_options(synchronize_session=False)
    ).rowcount
