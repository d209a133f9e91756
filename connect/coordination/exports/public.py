"""The public export by area: counts of requests and assists that never reveal a person.

Each area (code, name, level, parent code) gets counts of its requests by status group (open,
claimed, helped incl. confirmed, other: cancelled, expired, hidden), of its open requests per
category, and of its assists that helped. A count of 1 to 4 is suppressed (primary
suppression): a small number in a small commune points at a household. 0 is shown: it says
nothing about anyone.

Complementary suppression: areas nest (province > district > commune), so a suppressed cell
could be recovered as the parent's count minus its siblings'. Whenever a parent's count is
published and exactly one child's is not, a second child's is suppressed too (the smallest
positive one), or the parent's when there is no other child; whenever a parent's count is
suppressed but all of its children's are published, the smallest positive child's is
suppressed. This repeats until nothing changes, per measure. Top-level areas are siblings
under the published totals of /api/v1/stats.

Residual risks, documented rather than solved: (1) differencing over time: two exports
before and after one new request show a count grow by one (the public map shows the same need,
blurred, anyway); (2) the categories of an open request overlap (a request may have several), so
category cells are not a partition and no sum rule applies to them, which only makes
recovery harder; (3) a single top-level area with a suppressed cell can be read off the
unsuppressed totals of /api/v1/stats (only for a whole province holding 1-4 requests).
"""

import json

import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy import String, and_, case, cast, func, select

from connect import clock
from connect.areas.models import Area, RequestArea
from connect.coordination.exports.services import chunked_rows
from connect.extensions import db
from connect.requests.categories import CATEGORIES
from connect.requests.models import PROVEN_OUTCOMES, Assist, HelpRequest
from connect.requests.state import CLOSED_UNHELPED, HELPED

THRESHOLD = 5
SIMPLIFY_DEGREES = 0.001  # ~100 m: enough for a choropleth, a fraction of the size
COORDINATE_DECIMALS = 5
STATUS_GROUPS = {
    "open": ("open",),
    "claimed": ("claimed",),
    "helped": HELPED,
    "other": CLOSED_UNHELPED,
}
MEASURES = (
    tuple(f"requests_{group}" for group in STATUS_GROUPS)
    + tuple(f"open_{category}" for category in CATEGORIES)
    + ("assists_helped",)
)
AREA_COLUMNS = ("code", "name", "level", "parent_code")
CSV_COLUMNS = AREA_COLUMNS + MEASURES + ("suppressed",)
GEOMETRY_CHUNK = 200


def area_counts(now=None):
    """[{code, name, level, parent_code, id, parent_id, counts}] for every area, by code."""
    now = now or clock.now()
    areas = db.session.execute(
        select(Area.id, Area.code, Area.name, Area.level, Area.parent_id).order_by(Area.code)
    ).all()
    codes = {row.id: row.code for row in areas}
    counts = {row.id: dict.fromkeys(MEASURES, 0) for row in areas}
    for area_id, *values in db.session.execute(_request_counts_query(now)):
        counts[area_id].update(zip(MEASURES[:-1], (int(v or 0) for v in values)))
    for area_id, helped in db.session.execute(
        select(RequestArea.area_id, func.count())
        .join(Assist, Assist.request_id == RequestArea.request_id)
        .where(Assist.outcome.in_(PROVEN_OUTCOMES))
        .group_by(RequestArea.area_id)
    ):
        counts[area_id]["assists_helped"] = helped
    return [
        {
            "id": row.id,
            "parent_id": row.parent_id,
            "code": row.code,
            "name": row.name,
            "level": row.level,
            "parent_code": codes.get(row.parent_id),
            "counts": counts[row.id],
        }
        for row in areas
    ]


def _request_counts_query(now):
    # The effective status once per request (a subquery), then counted per area.
    placed = (
        select(
            RequestArea.area_id,
            HelpRequest.status_at(now).label("status"),
            cast(HelpRequest.categories, String).label("categories"),
        )
        .join(HelpRequest, HelpRequest.id == RequestArea.request_id)
        .subquery()
    )

    def count(condition):
        return func.sum(case((condition, 1), else_=0))

    by_group = [count(placed.c.status.in_(statuses)) for statuses in STATUS_GROUPS.values()]
    # Quoted, so "medicine" never matches inside "medical_advice" (as filters.py does).
    by_category = [
        count(and_(placed.c.status == "open", placed.c.categories.like(f'%"{category}"%')))
        for category in CATEGORIES
    ]
    return select(placed.c.area_id, *by_group, *by_category).group_by(placed.c.area_id)


def suppressed_cells(areas, measures=MEASURES, threshold=THRESHOLD):
    """{(area id, measure)} to withhold: counts 1..threshold-1, and the complementary cells
    that stop them being recovered as a parent minus its other children (see module doc)."""
    hidden = {
        (area["id"], measure)
        for area in areas
        for measure in measures
        if 0 < area["counts"][measure] < threshold
    }
    known = {area["id"] for area in areas}
    children = {}
    for area in areas:
        parent = area["parent_id"] if area["parent_id"] in known else None
        children.setdefault(parent, []).append(area)
    changed = True
    while changed:
        changed = False
        for parent, kids in children.items():
            for measure in measures:
                extra = _complement(parent, kids, measure, hidden)
                if extra is not None:
                    hidden.add(extra)
                    changed = True
    return hidden


def _complement(parent, kids, measure, hidden):
    """One more cell to hide in this family for this measure, or None when it is safe."""
    parent_hidden = parent is not None and (parent, measure) in hidden
    open_kids = [kid for kid in kids if (kid["id"], measure) not in hidden]
    hidden_kids = len(kids) - len(open_kids)
    if not parent_hidden and hidden_kids == 1:
        if open_kids:
            return (_smallest(open_kids, measure)["id"], measure)
        return (parent, measure) if parent is not None else None
    if parent_hidden and hidden_kids == 0 and any(kid["counts"][measure] for kid in kids):
        return (_smallest(open_kids, measure)["id"], measure)
    return None


def _smallest(kids, measure):
    """The child with the smallest positive count (the cheapest to hide), else any."""
    positive = [kid for kid in kids if kid["counts"][measure] > 0]
    return min(positive or kids, key=lambda kid: (kid["counts"][measure], kid["code"]))


def public_areas(now=None):
    """Every area's counts with the suppressed ones set to None and listed in "suppressed"."""
    areas = area_counts(now)
    hidden = suppressed_cells(areas)
    for area in areas:
        area["suppressed"] = [m for m in MEASURES if (area["id"], m) in hidden]
        for measure in area["suppressed"]:
            area["counts"][measure] = None
    return areas


def area_csv_rows(areas):
    """Rows (lists of cells) of the public CSV, header first; suppressed cells are empty."""
    yield list(CSV_COLUMNS)
    for area in areas:
        counts = area["counts"]
        yield (
            [area[column] or "" for column in AREA_COLUMNS]
            + ["" if counts[m] is None else counts[m] for m in MEASURES]
            + [";".join(area["suppressed"])]
        )


def area_features(areas):
    """Lists of GeoJSON Features (RFC 7946) of the areas: simplified polygons, the counts as
    properties. The polygons are read a chunk at a time, as the features are written."""
    by_id = {area["id"]: area for area in areas}
    for rows, _ in chunked_rows(select(Area.id, Area.geometry), Area.id, GEOMETRY_CHUNK):
        yield [
            _area_feature(by_id[area_id], geometry)
            for area_id, geometry in rows
            if area_id in by_id
        ]  # an area imported since the counts were read waits


def _area_feature(area, geometry):
    return {
        "type": "Feature",
        "id": area["code"],
        "geometry": _simplified(to_shape(geometry)),
        "properties": {
            **{column: area[column] for column in AREA_COLUMNS},
            **area["counts"],
            "suppressed": area["suppressed"],
        },
    }


def _simplified(shape):
    """A small GeoJSON geometry of an area: simplified, rounded, exterior rings anticlockwise."""
    shape = shape.simplify(SIMPLIFY_DEGREES, preserve_topology=True)
    shape = shapely.set_precision(shape, 10**-COORDINATE_DECIMALS)
    # RFC 7946 section 3.1.6: exterior rings counterclockwise, holes clockwise.
    shape = shapely.orient_polygons(shape, exterior_cw=False)
    return json.loads(shapely.to_geojson(shape))
