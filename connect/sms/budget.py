"""When a text may go out: quiet hours, each number's daily cap and the global hourly budget."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from connect.extensions import db
from connect.sms.models import DELIVERED, OUT, SENT, UNDELIVERED, SmsMessage

# What counts against a budget: texts the gateway took.
GONE = (SENT, DELIVERED, UNDELIVERED)
QUIET, DAILY_CAP, HOURLY_BUDGET = "quiet-hours", "daily-cap", "hourly-budget"


def parse_quiet_hours(value):
    """``"22:00-06:00"`` as two times; an empty value means no quiet hours."""
    if not value or not str(value).strip():
        return None
    try:
        start, end = (time.fromisoformat(part.strip()) for part in str(value).split("-"))
    except ValueError as error:
        raise ValueError(
            f"SMS_QUIET_HOURS={value!r}: write it as HH:MM-HH:MM in local time, e.g. 22:00-06:00"
        ) from error
    return start, end


def _local(now, config):
    zone = ZoneInfo(config["BABEL_DEFAULT_TIMEZONE"])
    return now.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone), zone


def _utc(local):
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def quiet_until(now, config):
    """The end of the quiet hours ``now`` (naive UTC) falls in, as naive UTC; else None."""
    hours = parse_quiet_hours(config["SMS_QUIET_HOURS"])
    if hours is None:
        return None
    start, end = hours
    local, zone = _local(now, config)
    clock = local.time()
    inside = start <= clock < end if start < end else clock >= start or clock < end
    if not inside:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return _utc(datetime.combine(day, end, tzinfo=zone))


def _gone_since(since, phone=None):
    query = select(func.count(SmsMessage.id), func.min(SmsMessage.sent_at)).where(
        SmsMessage.direction == OUT,
        SmsMessage.status.in_(GONE),
        SmsMessage.sent_at >= since,
    )
    if phone is not None:
        query = query.where(SmsMessage.phone == phone)
    return db.session.execute(query).one()


def over_budget(phone, now, config):
    """(reason, until) when a text to ``phone`` would break a cap now; else None."""
    local, zone = _local(now, config)
    midnight = datetime.combine(local.date(), time(0), tzinfo=zone)
    sent_today, _ = _gone_since(_utc(midnight), phone)
    if sent_today >= config["SMS_DAILY_CAP_PER_NUMBER"]:
        return DAILY_CAP, _utc(midnight + timedelta(days=1))
    sent_this_hour, oldest = _gone_since(now - timedelta(hours=1))
    if sent_this_hour >= config["SMS_HOURLY_BUDGET"]:
        return HOURLY_BUDGET, oldest + timedelta(hours=1)
    return None
