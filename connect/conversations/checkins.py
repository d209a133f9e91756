"""'Still need help?' before a request expires: 1 keeps it open, 2 cancels it, silence lets it
expire as it would have."""

from datetime import timedelta

from flask import current_app
from flask_babel import force_locale, format_datetime
from sqlalchemy import exists, select

from connect import clock
from connect.conversations import questions
from connect.conversations.listeners import tell
from connect.extensions import db
from connect.requests.models import HelpRequest
from connect.sms.models import SmsOptOut, SmsQuestion

CHECKIN_QUESTION = "still_need"
BATCH = 500


def ask_due(now=None):
    """Ask every open request whose expiry is near and that was not asked yet; returns how many."""
    now = now or clock.now()
    window = timedelta(hours=current_app.config["SMS_CHECKIN_HOURS"])
    r, q = HelpRequest, SmsQuestion
    # Asked since the request last moved (keeping it open moves it): once an expiry. Plain
    # column comparisons, as SQLite has no date arithmetic in SQL.
    asked_already = exists().where(
        q.request_id == r.id, q.kind == CHECKIN_QUESTION, q.asked_at > r.last_activity_at
    )
    due = db.session.execute(
        select(r)
        .where(
            r.status == "open",
            r.expires_at > now,
            r.expires_at <= now + window,
            r.sms_updates.is_(True),
            ~asked_already,
            ~exists().where(SmsOptOut.phone == r.phone),
        )
        .order_by(r.expires_at)
        .limit(BATCH)
    ).scalars()
    count = 0
    for help_request in due:
        questions.ask(help_request.phone, CHECKIN_QUESTION, help_request.id)
        with force_locale(help_request.locale or current_app.config["BABEL_DEFAULT_LOCALE"]):
            closes = format_datetime(help_request.expires_at, "HH:mm dd/MM")
        tell(help_request, CHECKIN_QUESTION, urgent=False, closes=closes)
        count += 1
    db.session.flush()
    return count
