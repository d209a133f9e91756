"""Aggregate counts for the public and for coordinators, computed from stored history."""

import statistics
from bisect import bisect_right
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from marshmallow import ValidationError, fields, post_load, validate, validates_schema
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import aliased

from connect import clock
from connect.areas.models import Area, RequestArea
from connect.areas.services import coordinator_area_ids
from connect.coordination.filters import (
    ConsoleFilterSchema,
    category_condition,
    request_conditions,
)
from connect.extensions import db
from connect.requests.categories import CATEGORIES
from connect.requests.models import HelpRequest, RequestEvent
from connect.requests.state import CLOSED, HELPED, STATUSES


def public_stats():
    """Requests by status and assists helped/confirmed: counts only, never a person."""
    by_status = dict.fromkeys(STATUSES, 0)
    by_status.update(
        db.session.execute(
            select(HelpRequest.status, func.count()).group_by(HelpRequest.status)
        ).all()
    )
    # Counted from events, so a later purge of personal data cannot change them.
    transitions = dict(
        db.session.execute(
            select(RequestEvent.to_status, func.count(func.distinct(RequestEvent.request_id)))
            .where(RequestEvent.to_status.in_(HELPED))
            .group_by(RequestEvent.to_status)
        ).all()
    )
    helped_or_confirmed = db.session.execute(
        select(func.count(func.distinct(RequestEvent.request_id))).where(
            RequestEvent.to_status.in_(HELPED)
        )
    ).scalar_one()
    return {
        "requests": {"total": sum(by_status.values()), "by_status": by_status},
        "assists": {
            "helped": helped_or_confirmed,
            "confirmed": transitions.get("confirmed", 0),
        },
    }


# -- the coordinator console's statistics ---------------------------------------------------

DEFAULT_DAYS = 30
MAX_DAYS = 366
# Days the statistics can count: far past either end, the default range and the local
# midnights in UTC would fall outside what a date can hold.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)
DAYS = validate.Range(
    min=FIRST_DAY, max=LAST_DAY, error=f"Give a day from {FIRST_DAY} to {LAST_DAY}."
)


class StatsQuerySchema(ConsoleFilterSchema):
    """The console filters plus a range of local days (YYYY-MM-DD, both ends included)."""

    from_ = fields.Date(
        data_key="from",
        attribute="from",
        load_default=None,
        validate=DAYS,
        metadata={
            "description": f"First day (local time); default {DEFAULT_DAYS - 1} days before `to`."
        },
    )
    to = fields.Date(
        load_default=None, validate=DAYS, metadata={"description": "Last day; default today."}
    )

    @validates_schema
    def _check_range(self, data, **kwargs):
        start, end = day_range(data.get("from"), data.get("to"))
        if end < start:
            raise ValidationError("Must be on or after `from`.", "to")
        if (end - start).days + 1 > MAX_DAYS:
            raise ValidationError(f"At most {MAX_DAYS} days from `from`.", "to")

    @post_load
    def _fill_range(self, data, **kwargs):
        data["from"], data["to"] = day_range(data.get("from"), data.get("to"))
        return data


def local_zone():
    """The zone whose days the statistics count in (the pages' timezone)."""
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def today():
    return clock.now().replace(tzinfo=UTC).astimezone(local_zone()).date()


def day_range(start=None, end=None):
    """(from, to) with the defaults filled: to today, from DEFAULT_DAYS days back."""
    end = end or today()
    return start or end - timedelta(days=DEFAULT_DAYS - 1), end


def _utc_midnight(day):
    """The stored (naive UTC) moment a local day begins."""
    local = datetime.combine(day, time(), tzinfo=local_zone())
    return local.astimezone(UTC).replace(tzinfo=None)


def console_stats(user, args, now=None):
    """The console's figures for the caller's scope and filters over args' range of days."""
    now = now or clock.now()
    conditions = request_conditions(user, args, now)
    midnights = [
        _utc_midnight(args["from"] + timedelta(days=n))
        for n in range((args["to"] - args["from"]).days + 2)
    ]
    start, end = midnights[0], midnights[-1]
    posted, now_by_status = status_counts(conditions, start, end, now)
    closed = sum(posted.get(name, 0) for name in CLOSED)
    helped = sum(posted.get(name, 0) for name in HELPED)
    to_claim, to_help = median_times(conditions, start, end)
    return {
        "from": args["from"],
        "to": args["to"],
        "assists_per_day": assists_per_day(conditions, args["from"], midnights),
        "requests_posted": sum(posted.values()),
        # Of the requests posted in the range that are closed now, the share helped.
        "fulfilment_rate": helped / closed if closed else None,
        "median_time_to_claim_s": to_claim,
        "median_time_to_help_s": to_help,
        "open_need": open_need_by_area(user, args, conditions, now),
        "open_total": now_by_status.get("open", 0),
    }


def status_counts(conditions, start, end, now):
    """({effective status: n} of the requests posted in [start, end), {status: n} of all),
    in one pass over the requests in scope."""
    status = HelpRequest.status_at(now)
    in_range = case(
        (and_(HelpRequest.created_at >= start, HelpRequest.created_at < end), 1), else_=0
    )
    posted, every = {}, {}
    for posted_in_range, name, count in db.session.execute(
        select(in_range, status, func.count(HelpRequest.id))
        .where(*conditions)
        .group_by(in_range, status)
    ):
        every[name] = every.get(name, 0) + count
        if posted_in_range:
            posted[name] = count
    return posted, every


def assists_per_day(conditions, first_day, midnights):
    """Every day of the range (local days: ``midnights`` are their starts in UTC, and the end)
    with the requests first helped, and first confirmed, on it."""
    start, end = midnights[0], midnights[-1]
    event = RequestEvent
    helped_at = func.min(event.created_at)
    confirmed_at = func.min(case((event.to_status == "confirmed", event.created_at)))
    # Counted from events, which a purge of personal data leaves in place; only requests
    # helped or confirmed in the range are looked at (through the to_status index).
    in_range = aliased(RequestEvent)
    touched = select(in_range.request_id).where(
        in_range.to_status.in_(HELPED), in_range.created_at >= start, in_range.created_at < end
    )
    rows = db.session.execute(
        select(helped_at, confirmed_at)
        .join(HelpRequest, HelpRequest.id == event.request_id)
        .where(event.to_status.in_(HELPED), event.request_id.in_(touched), *conditions)
        .group_by(event.request_id)
    ).all()
    helped, confirmed = [0] * (len(midnights) - 1), [0] * (len(midnights) - 1)
    # Local days are bucketed here, portably, rather than with each database's date functions.
    for first_helped, first_confirmed in rows:
        for moment, counts in ((first_helped, helped), (first_confirmed, confirmed)):
            if moment is not None and start <= moment < end:
                counts[bisect_right(midnights, moment) - 1] += 1
    return [
        {"date": first_day + timedelta(days=n), "helped": helped[n], "confirmed": confirmed[n]}
        for n in range(len(helped))
    ]


def median_times(conditions, start, end):
    """Median seconds from posting to the first claim, and to first helped (or confirmed),
    over the requests posted in [start, end) that got there (None when none did)."""
    event = RequestEvent
    claimed_at = func.min(case((event.to_status == "claimed", event.created_at)))
    helped_at = func.min(case((event.to_status.in_(HELPED), event.created_at)))
    rows = db.session.execute(
        select(HelpRequest.created_at, claimed_at, helped_at)
        .join(event, event.request_id == HelpRequest.id)
        .where(
            event.to_status.in_(("claimed", *HELPED)),
            *conditions,
            HelpRequest.created_at >= start,
            HelpRequest.created_at < end,
        )
        .group_by(HelpRequest.id, HelpRequest.created_at)
    ).all()
    # SQLite has no percentile function: one row per request comes here.
    to_claim = [(claimed - posted).total_seconds() for posted, claimed, _ in rows if claimed]
    to_help = [(helped - posted).total_seconds() for posted, _, helped in rows if helped]
    return (
        float(statistics.median(to_claim)) if to_claim else None,
        float(statistics.median(to_help)) if to_help else None,
    )


def areas_in_scope(user, code=None):
    """(id, code, name) by code of the areas the open need is shown for: the filtered area or
    the caller's, each with every area inside it; admins without a filter, all."""
    areas = db.session.execute(
        select(Area.id, Area.code, Area.name, Area.parent_id).order_by(Area.code)
    ).all()
    if code:
        roots = {area.id for area in areas if area.code == code}
    elif user.role == "admin":
        return [(a.id, a.code, a.name) for a in areas]
    else:
        roots = set(coordinator_area_ids(user.id))
    children = {}
    for area in areas:
        children.setdefault(area.parent_id, []).append(area.id)
    inside, stack = set(), list(roots)
    while stack:
        area_id = stack.pop()
        if area_id not in inside:
            inside.add(area_id)
            stack.extend(children.get(area_id, ()))
    return [(a.id, a.code, a.name) for a in areas if a.id in inside]


def open_need_by_area(user, args, conditions, now):
    """Effectively open requests per area in scope × category (a request counts in each of its
    categories and in each of its areas); non-zero cells, by area code then count."""
    areas = {
        area_id: (code, name) for area_id, code, name in areas_in_scope(user, args.get("area"))
    }
    if not areas:
        return []
    # Aliased: the scope and area filters probe request_areas themselves (correlated EXISTS).
    placed = aliased(RequestArea)
    in_areas = (
        [] if user.role == "admin" and not args.get("area") else [placed.area_id.in_(list(areas))]
    )
    rows = db.session.execute(
        select(
            placed.area_id,
            *(
                func.sum(case((category_condition([category]), 1), else_=0))
                for category in CATEGORIES
            ),
        )
        .join(HelpRequest, HelpRequest.id == placed.request_id)
        .where(*in_areas, *conditions, HelpRequest.status_at(now) == "open")
        .group_by(placed.area_id)
    ).all()
    cells = [
        {
            "area_code": areas[area_id][0],
            "area_name": areas[area_id][1],
            "category": category,
            "count": int(count),
        }
        for area_id, *counts in rows
        for category, count in zip(CATEGORIES, counts)
        if count
    ]
    return sorted(
        cells, key=lambda c: (c["area_code"], -c["count"], CATEGORIES.index(c["category"]))
    )
