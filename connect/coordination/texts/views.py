"""The console's texts page: what waits (quiet hours, caps), what fell back to an inbox, and,
for admins, what failed for good."""

from datetime import timedelta

from flask import render_template
from flask_babel import format_datetime
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from connect import clock
from connect.coordination.console import bp, console_page
from connect.coordination.filters import scope_condition
from connect.extensions import db
from connect.requests.models import HelpRequest
from connect.sms.budget import DAILY_CAP, HOURLY_BUDGET, QUIET
from connect.sms.models import FAILED, FELL_BACK, OUT, UNDELIVERED, WAITING, SmsMessage

DAYS = 7
LIMIT = 100
STATUS_WORDS = {
    "queued": _l("queued"),
    WAITING: _l("waiting"),
    "sent": _l("sent"),
    "delivered": _l("delivered"),
    UNDELIVERED: _l("not delivered"),
    FAILED: _l("failed"),
    FELL_BACK: _l("sent to the inbox instead"),
    "opted_out": _l("not sent: the number sent STOP"),
}
REASON_WORDS = {
    QUIET: _l("quiet hours"),
    DAILY_CAP: _l("this number's daily limit"),
    HOURLY_BUDGET: _l("the hourly limit of the service"),
}


@bp.get("/texts", endpoint="texts")
@console_page
def texts_page(user):
    """Counts of the last week's texts by status, and the ones that need a look."""
    since = clock.now() - timedelta(days=DAYS)
    scope = _scope(user)
    counts = dict(
        db.session.execute(
            select(SmsMessage.status, func.count(SmsMessage.id))
            .where(SmsMessage.direction == OUT, SmsMessage.created_at >= since, *scope)
            .group_by(SmsMessage.status)
        ).all()
    )
    shown = [WAITING, FELL_BACK] + ([FAILED, UNDELIVERED] if user.role == "admin" else [])
    rows = db.session.execute(
        select(SmsMessage)
        .where(
            SmsMessage.direction == OUT,
            SmsMessage.created_at >= since,
            SmsMessage.status.in_(shown),
            *scope,
        )
        .order_by(SmsMessage.created_at.desc())
        .limit(LIMIT)
    ).scalars()
    return render_template(
        "console/texts.html",
        title=_l("Texts"),
        days=DAYS,
        counts=[(STATUS_WORDS.get(status, status), n) for status, n in sorted(counts.items())],
        rows=[_row(message) for message in rows],
        admin=user.role == "admin",
    )


def _scope(user):
    """Admins see every text; coordinators those about requests in their areas."""
    condition = scope_condition(user)
    if condition is None:
        return ()
    in_area = select(HelpRequest.id).where(condition)
    return (SmsMessage.request_id.in_(in_area),)


def _row(message):
    return {
        "at": format_datetime(message.created_at, "dd/MM HH:mm"),
        "kind": message.kind,
        "status": STATUS_WORDS.get(message.status, message.status),
        "reason": REASON_WORDS.get(message.reason, message.reason or ""),
        "until": format_datetime(message.not_before, "dd/MM HH:mm") if message.not_before else "",
        "request_id": message.request_id,
        # Enough to tell two numbers apart on a call, not to dial a stranger.
        "phone_end": f"…{message.phone[-3:]}" if message.phone else "",
    }
