"""The console's statistics page: the figures of GET /api/v1/stats/console as SVG charts."""

from datetime import date

from babel.dates import format_skeleton
from babel.units import format_unit
from flask import render_template, request, url_for
from flask_babel import format_date, format_percent, get_locale
from flask_babel import gettext as _
from marshmallow import EXCLUDE, ValidationError

from connect.coordination.console import bp, console_page
from connect.coordination.statistics import charts
from connect.coordination.statistics.services import (
    MAX_DAYS,
    StatsQuerySchema,
    areas_in_scope,
    console_stats,
)
from connect.errors import Forbidden, NotFound
from connect.requests.categories import CATEGORIES
from connect.requests.categories import LABELS as CATEGORY_LABELS

FORM_FIELDS = ("area", "category", "from", "to")


@bp.get("/statistics")
@console_page
def statistics(user):
    """Assists per day, the headline figures and open need, for the caller's areas."""
    query = {name: request.args.get(name, "").strip() for name in FORM_FIELDS}
    given = {name: value for name, value in query.items() if value}
    errors, figures = {}, None
    try:
        args = StatsQuerySchema(unknown=EXCLUDE).load(given)
    except ValidationError as exc:
        errors = _page_errors(exc.messages, given)
    else:
        try:
            figures = console_stats(user, args)
        except (Forbidden, NotFound) as exc:
            # Only a hand-made address names an area outside the select's list.
            return render_template(
                "account/message.html",
                title=_("Statistics"),
                message=_("There is no area with this code.")
                if isinstance(exc, NotFound)
                else _("You do not coordinate this area."),
                link_url=url_for("console.statistics"),
                link_text=_("Statistics of your areas"),
            ), exc.status
        query.update({"from": args["from"].isoformat(), "to": args["to"].isoformat()})
    return render_template(
        "console/statistics.html",
        title=_("Statistics"),
        query=query,
        errors=errors,
        areas=areas_in_scope(user),
        categories=_category_choices(),
        json_url=url_for("stats.console", **{k: v for k, v in query.items() if v}),
        **(_shown(figures) if figures else {}),
    )


def _page_errors(messages, given):
    """The schema's (English) field errors in the page's words."""
    errors = {}
    for name in messages:
        if name not in ("from", "to"):
            errors[name] = _("Choose from the list.")
        elif name == "to" and "from" not in messages and _is_date(given.get("to", "")):
            errors[name] = _(
                "The last day must be on or after the first, and at most %(days)d days after it.",
                days=MAX_DAYS,
            )
        else:
            errors[name] = _("Enter a date (day, month and year).")
    return errors


def _is_date(text):
    try:
        date.fromisoformat(text)
    except ValueError:
        return bool(not text)  # no end given: today, so the range is what is wrong
    return True


def _category_choices():
    return [(name, str(CATEGORY_LABELS[name])) for name in CATEGORIES]


def _shown(figures):
    """What the template draws: headline words, chart shapes and the tables behind them."""
    days = figures["assists_per_day"]
    return {
        "figures": figures,
        "headline": {
            "rate": None
            if figures["fulfilment_rate"] is None
            else format_percent(figures["fulfilment_rate"]),
            "claim": duration_words(figures["median_time_to_claim_s"]),
            "help": duration_words(figures["median_time_to_help_s"]),
        },
        "days": [dict(day, label=format_date(day["date"], "medium")) for day in days],
        "assists_chart": _assists_chart(days),
        **_need(figures["open_need"]),
    }


def _assists_chart(days):
    helped, confirmed = _("Helped"), _("Confirmed")
    labels = [format_skeleton("Md", day["date"], locale=get_locale()) for day in days]
    titles = [
        (
            _("%(day)s: %(n)d helped", day=format_date(day["date"], "medium"), n=day["helped"]),
            _(
                "%(day)s: %(n)d confirmed",
                day=format_date(day["date"], "medium"),
                n=day["confirmed"],
            ),
        )
        for day in days
    ]
    return charts.grouped_bars(
        labels,
        [(helped, [d["helped"] for d in days]), (confirmed, [d["confirmed"] for d in days])],
        titles,
    )


def _need(cells):
    """Open need as rows (area, counts per category), its stacked bars and heat levels."""
    rows = {}
    for cell in cells:
        row = rows.setdefault(
            cell["area_code"], {"code": cell["area_code"], "name": cell["area_name"], "counts": {}}
        )
        row["counts"][cell["category"]] = cell["count"]
    rows = list(rows.values())
    labels = dict(_category_choices())
    titles = {
        (row["name"], name): _(
            "%(area)s · %(category)s: %(n)d open",
            area=row["name"],
            category=labels[name],
            n=row["counts"][name],
        )
        for row in rows
        for name in row["counts"]
    }
    largest = max((cell["count"] for cell in cells), default=0)
    for row in rows:
        row["total"] = sum(row["counts"].values())
        row["heat"] = {
            name: charts.heat_level(row["counts"].get(name, 0), largest) for name in CATEGORIES
        }
    chart = (
        charts.stacked_rows([(row["name"], row["counts"]) for row in rows], CATEGORIES, titles)
        if rows
        else None
    )
    legend = [(labels[name], charts.SERIES_COLOURS[i]) for i, name in enumerate(CATEGORIES)]
    return {"need_rows": rows, "need_chart": chart, "need_legend": legend}


def duration_words(seconds):
    """A duration in the page's language, to the minute, in its two largest units
    ("1 hour 30 minutes"); None stays None."""
    # babel's format_unit, not format_timedelta: that one rounds 10 days to "1 week".
    if seconds is None:
        return None
    if seconds < 60:
        return _unit(round(seconds), "second")
    minutes = round(seconds / 60)
    parts = [("day", minutes // 1440), ("hour", minutes // 60 % 24), ("minute", minutes % 60)]
    first = next(i for i, (_name, n) in enumerate(parts) if n)
    return " ".join(_unit(n, name) for name, n in parts[first : first + 2] if n)


def _unit(n, name):
    return format_unit(n, f"duration-{name}", length="long", locale=get_locale())
