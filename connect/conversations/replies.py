"""Texts that come in: STOP and START, answers to the open question, and everything else
(feature-phone intake, or a word about the phone's active request)."""

import logging

from connect import clock
from connect.conversations import intake, questions
from connect.conversations.checkins import CHECKIN_QUESTION
from connect.conversations.listeners import HELPED_QUESTION, tell
from connect.errors import ConnectError
from connect.extensions import db
from connect.notifications.render import sms
from connect.requests import services
from connect.requests.models import HelpRequest
from connect.sms import signals
from connect.sms.models import SmsOptOut
from connect.sms.outbound import public_url, send_text
from connect.sms.text import fold

log = logging.getLogger("connect.sms")
# Compared folded and upper-cased: "Dừng", "dung" and "DUNG" are one word.
STOP_WORDS = frozenset({"STOP", "DUNG"})
START_WORDS = frozenset({"START", "BAT DAU"})
YES, NO = "1", "2"


def init_app(app):
    signals.received.connect(receive)


def words(text):
    """A reply as compared: folded, upper case, single spaces, no trailing punctuation."""
    return " ".join(fold(text or "").upper().replace(".", " ").replace("!", " ").split())


def receive(message, text):
    """Answer one text from a phone (stored already, its phone proven)."""
    said = words(text)
    now = clock.now()
    if said in STOP_WORDS:
        stop(message.phone, now)
        return
    if said in START_WORDS:
        db.session.query(SmsOptOut).filter_by(phone=message.phone).delete()
        send_text(
            message.phone, sms("restarted", intake.texting_locale()), "restarted", urgent=True
        )
        return
    question = questions.open_question(message.phone, now)
    answers = ANSWERS.get(question.kind) if question is not None else None
    if answers is not None and said in (YES, NO):
        message.request_id = question.request_id
        questions.answered(question, now)
        answer(question, *answers[said])
        return
    if question is not None and question.kind in intake.STEPS:
        intake.answer(question, message, text or "", now)
        return
    if not any(c.isalnum() for c in text or ""):
        # Nothing to read (empty, binary, symbols): say how to ask for help.
        send_text(
            message.phone,
            sms("not-understood", intake.texting_locale(), link=public_url("/need-help")),
            "not-understood",
            urgent=True,
        )
        return
    intake.start(message, text)


def stop(phone, now):
    if db.session.get(SmsOptOut, phone) is None:
        db.session.add(SmsOptOut(phone=phone, created_at=now))
    send_text(phone, sms("stopped", intake.texting_locale()), "stopped", urgent=True)


# What "1" and "2" do to each kind of question: the service it calls, and the text after.
ANSWERS = {
    HELPED_QUESTION: {
        YES: (services.confirm_by_phone, "thanks"),
        NO: (services.dispute_helped, "disputed"),  # open again, flagged for coordinators
    },
    CHECKIN_QUESTION: {
        YES: (services.keep_open_by_phone, "kept"),
        NO: (services.cancel_by_phone, "cancelled"),
    },
}


def answer(question, action, reply):
    """Do what the answer asks on the question's request, then say so."""
    help_request = db.session.get(HelpRequest, question.request_id)
    try:
        with db.session.begin_nested():
            action(help_request.id, question.phone)
    except ConnectError:
        # Closed meanwhile (confirmed on the page, cancelled, expired): nothing changes.
        tell(help_request, "closed")
        return
    tell(help_request, reply)
