"""The console map page: the caller's areas on a map, with filters that live in the URL.

The page itself draws nothing from the requests: static/js/console-map.js asks the map data
endpoint (map_api) for the view and filters in the form. The form is a plain GET form, so
the filters are in the URL and work (and can be shared) without JavaScript too.
"""

from flask import current_app, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from geoalchemy2.shape import to_shape
from sqlalchemy import func, select

from connect.areas.models import Area
from connect.areas.services import coordinator_area_ids
from connect.coordination.console import bp, console_page
from connect.extensions import db
from connect.requests.categories import CATEGORIES
from connect.requests.categories import LABELS as CATEGORY_LABELS
from connect.requests.models import URGENCIES
from connect.requests.state import STATUSES

STATUS_LABELS = {
    "open": _l("Open"),
    "claimed": _l("Claimed"),
    "helped": _l("Helped"),
    "confirmed": _l("Confirmed"),
    "hidden": _l("Hidden"),
    "cancelled": _l("Cancelled"),
    "expired": _l("Expired"),
}
ACTOR_LABELS = {
    "requester": _l("the requester"),
    "volunteer": _l("a volunteer"),
    "coordinator": _l("a coordinator"),
    "admin": _l("an admin"),
    "system": _l("the system"),
}
URGENCY_CHOICES = {
    "": _l("Any urgency"),
    "urgent": _l("Urgent only"),
    "normal": _l("Not urgent only"),
}
WAITING_CHOICES = {
    "": _l("Any time"),
    "1": _l("More than 1 hour"),
    "6": _l("More than 6 hours"),
    "24": _l("More than 24 hours"),
    "72": _l("More than 3 days"),
    "168": _l("More than a week"),
}
POSTED_CHOICES = {
    "": _l("Any time"),
    "24": _l("In the last 24 hours"),
    "72": _l("In the last 3 days"),
    "168": _l("In the last week"),
    "720": _l("In the last 30 days"),
}


def _listed(name, allowed):
    """Known values of a list filter given as repeated parameters or comma-separated."""
    given = {part.strip() for value in request.args.getlist(name) for part in value.split(",")}
    return [value for value in allowed if value in given]


def _hours(name, choices):
    """An age filter's value as the form shows it ("" when absent or not a number)."""
    value = request.args.get(name, "").strip()
    try:
        hours = float(value)
    except ValueError:
        return ""
    if not 0 <= hours <= 24 * 366:
        return ""
    text = f"{hours:g}"
    if text not in choices:  # a hand-written URL: show its value as one more choice
        choices[text] = _l("%(hours)s hours", hours=text)
    return text


def _areas_in_scope(user):
    """[(area row, depth, (min_lon, min_lat, max_lon, max_lat))] the caller may pick, as a tree."""
    # Admins pick from every area; coordinators from theirs and every area inside them.
    # Sorted here, not in SQL: the same order whatever the database's collation.
    rows = sorted(
        db.session.execute(
            select(
                Area.id,
                Area.code,
                Area.name,
                Area.level,
                Area.parent_id,
                func.ST_Envelope(Area.geometry),
            )
        ).all(),
        key=lambda row: (row.name, row.code),
    )
    children = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)
    if user.role == "admin":
        roots = children.get(None, [])
    else:
        granted = set(coordinator_area_ids(user.id))
        # A granted area inside another granted one is listed under it, not twice.
        by_id = {row.id: row for row in rows}
        roots = [row for row in rows if row.id in granted and not _inside(row, granted, by_id)]
    listed, seen = [], set()

    def walk(row, depth):
        if row.id in seen:  # a parent cycle in bad data ends here
            return
        seen.add(row.id)
        listed.append((row, depth, to_shape(row[5]).bounds))
        for child in children.get(row.id, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return listed


def _inside(row, granted, by_id):
    """Whether an ancestor of this area is granted too."""
    seen = set()
    parent = by_id.get(row.parent_id)
    while parent is not None and parent.id not in seen:
        if parent.id in granted:
            return True
        seen.add(parent.id)
        parent = by_id.get(parent.parent_id)
    return False


def _union(bounds):
    """The box holding all these (min_lon, min_lat, max_lon, max_lat) boxes, or None."""
    if not bounds:
        return None
    return (
        min(b[0] for b in bounds),
        min(b[1] for b in bounds),
        max(b[2] for b in bounds),
        max(b[3] for b in bounds),
    )


def _box(bounds):
    return ",".join(f"{value:.5f}" for value in bounds) if bounds else ""


@bp.get("/map")
@console_page
def map_page(user):
    """The map of the caller's areas: requests by status, need heat, volunteers on duty."""
    areas = _areas_in_scope(user)
    codes = {row.code for row, _, _ in areas}
    chosen_area = request.args.get("area", "").strip()
    if chosen_area not in codes:
        chosen_area = ""
    waiting, posted = dict(WAITING_CHOICES), dict(POSTED_CHOICES)
    filters = {
        "status": _listed("status", STATUSES),
        "category": _listed("category", CATEGORIES),
        "urgency": (_listed("urgency", URGENCIES) + [""])[0],
        "min_age_hours": _hours("min_age_hours", waiting),
        "max_age_hours": _hours("max_age_hours", posted),
        "area": chosen_area,
    }
    options = [
        {
            "code": row.code,
            "name": row.name,
            "level": row.level,
            "depth": depth,
            "bounds": _box(bounds),
        }
        for row, depth, bounds in areas
    ]
    top = [bounds for _, depth, bounds in areas if depth == 0]
    return render_template(
        "console/map.html",
        title=_l("Map"),
        filters=filters,
        areas=options,
        bounds=_box(_union(top)),
        center=current_app.config["MAP_CENTER"],
        statuses=STATUS_LABELS,
        categories=CATEGORY_LABELS,
        urgencies=URGENCY_CHOICES,
        waiting=waiting,
        posted=posted,
        # The script puts each request's id where these URLs have 0.
        api=url_for("console_map.console_map"),
        request_url=url_for("console.request_page", request_id=0),
        events_api=url_for("console_requests.request_events", request_id=0),
        actors=ACTOR_LABELS,
    )
