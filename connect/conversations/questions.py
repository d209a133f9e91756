"""The one open question per phone: a reply answers the newest question the service asked it."""

from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from connect import clock
from connect.extensions import db
from connect.sms.models import SmsQuestion


def ask(phone, kind, request_id=None, state=None):
    """Note that ``phone`` was asked a ``kind`` question (the text goes separately)."""
    now = clock.now()
    question = SmsQuestion(
        phone=phone,
        kind=kind,
        request_id=request_id,
        state=state or {},
        asked_at=now,
        expires_at=now + timedelta(hours=current_app.config["SMS_QUESTION_HOURS"]),
    )
    db.session.add(question)
    return question


def open_question(phone, now=None):
    """The newest question asked of ``phone`` that is neither answered nor expired, or None."""
    now = now or clock.now()
    return db.session.execute(
        select(SmsQuestion)
        .where(
            SmsQuestion.phone == phone,
            SmsQuestion.answered_at.is_(None),
            SmsQuestion.expires_at > now,
        )
        .order_by(SmsQuestion.asked_at.desc(), SmsQuestion.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def answered(question, now=None):
    question.answered_at = now or clock.now()


def close_for(request_id, now=None):
    """A request closed: the questions about it need no answer any more."""
    db.session.execute(
        update(SmsQuestion)
        .where(SmsQuestion.request_id == request_id, SmsQuestion.answered_at.is_(None))
        .values(answered_at=now or clock.now())
        .execution_options(synchronize_session=False)
    )
