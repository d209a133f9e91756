"""The console map's data: requests counted on a grid by zoom, a heat layer of unmet need
and on-duty volunteers, aggregated on the server so 100,000 requests never go to the browser.

Requests are filtered and counted per grid cell in numpy, over the per-process snapshot of
every request (``snapshot``), which catches up with the database before each call: ~100 k
requests in a few ms, where a grouped SQL scan took ~200 ms on SQLite. Volunteers are
counted per cluster cell in SQL.
"""

from datetime import timedelta

import numpy as np
from flask import current_app
from sqlalchemy import Integer, case, cast, exists, func, select, text

from connect import clock
from connect.accounts.models import User, Volunteer
from connect.areas.models import VolunteerArea
from connect.areas.services import coordinator_area_ids
from connect.coordination.filters import area_by_code, require_coordinator
from connect.coordination.map import snapshot
from connect.extensions import db
from connect.requests.models import PROVEN_OUTCOMES, URGENCIES, Assist, HelpRequest
from connect.requests.state import ACTIVE, CODES, HELPED, STATUSES, expiry_period
from connect.spatial import filter_in_box

CELL_PX = 60  # a cluster cell is about this many screen pixels (256 px tiles)
MAX_CELLS_ACROSS = 100  # a box wider than 6,000 px at its zoom gets coarser cells
POINTS_MAX = 500  # at most this many requests come as points at any zoom
POINTS_ZOOM = 16  # from this zoom on, requests come as points ...
POINTS_MAX_CLOSE = 5000  # ... unless the box still holds more than this
HEAT_HOURS = 72  # waiting this long (or longer) weighs 1 in the heat layer
RECENT_DAYS = 7  # helped and confirmed requests closed this recently are shown by default
RTREE_MAX_DEG2 = 0.25  # SQLite: boxes up to this many square degrees go through the R*Tree


def cell_degrees(zoom, bbox):
    """The cluster cell in degrees: ~60 px at this zoom, coarser for a box far too big for it."""
    min_lon, min_lat, max_lon, max_lat = bbox
    cell = 360.0 / 2**zoom / 256 * CELL_PX
    return max(cell, max(max_lon - min_lon, max_lat - min_lat) / MAX_CELLS_ACROSS)


def console_map(user, args, now=None):
    """The map layers for the caller's scope, the filters in args, args["bbox"] and zoom."""
    now = now or clock.now()
    if not _is_sqlite():
        # psycopg prepares a statement run 5 times, and PostgreSQL soon runs a prepared one
        # with a generic plan, blind to the box and times: it sorts 100 k rows to group
        # them, twice as slow as the hash aggregate it plans for the actual values.
        db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    bbox, zoom = args["bbox"], args["zoom"]
    cell = cell_degrees(zoom, bbox)
    columns = current_app.extensions["request_snapshot"].view()
    ids, status = _selected(columns, user, args, bbox, now)
    total = len(ids)
    points_mode = total <= POINTS_MAX or (zoom >= POINTS_ZOOM and total <= POINTS_MAX_CLOSE)
    # Heat cells are half a cluster cell: a finer picture of where need waits.
    heat = _heat(columns, ids, status, bbox, cell / 2, now)
    return {
        "zoom": zoom,
        "cell_deg": None if points_mode else cell,
        "total": total,
        "clusters": [] if points_mode else _clusters(columns, ids, status, bbox, cell),
        "points": _points(columns, ids, status) if points_mode and total else [],
        "heat": heat,
        "heat_max": max((weight for _, _, weight in heat), default=0.0),
        "volunteers": _volunteer_cells(user, args, bbox, cell, now),
    }


def _selected(c, user, args, bbox, now):
    """(ids, effective status codes) of the requests the map shows: in the caller's scope
    and the box, matching the filters (as filters.request_conditions), and by default open,
    claimed, or helped or confirmed in the last RECENT_DAYS."""
    scope = None if require_coordinator(user).role == "admin" else coordinator_area_ids(user.id)
    area = area_by_code(user, args["area"]).id if args.get("area") else None
    min_lon, min_lat, max_lon, max_lat = bbox
    # The box first: it is what keeps most rows out when zoomed in.
    keep = (
        c.present
        & (c.lon >= min_lon)
        & (c.lon <= max_lon)
        & (c.lat >= min_lat)
        & (c.lat <= max_lat)
    )
    ids = np.flatnonzero(keep)
    micro_now = snapshot.micros(now)
    hour = 3600 * 10**6
    tests = []
    if args.get("category"):
        tests.append(lambda ids: c.masks[ids] & c.bits.mask(args["category"]) != 0)
    if args.get("urgency"):
        wanted = [URGENCIES.index(urgency) for urgency in args["urgency"]]
        tests.append(lambda ids: np.isin(c.urgency[ids], wanted))
    if args.get("min_age_hours") is not None:
        oldest = micro_now - round(args["min_age_hours"] * hour)
        tests.append(lambda ids: c.created[ids] <= oldest)
    if args.get("max_age_hours") is not None:
        newest = micro_now - round(args["max_age_hours"] * hour)
        tests.append(lambda ids: c.created[ids] >= newest)
    if scope is not None:
        tests.append(lambda ids: snapshot.placed_in(c, ids, scope))
    if area is not None:
        tests.append(lambda ids: snapshot.placed_in(c, ids, [area]))
    for test in tests:
        ids = ids[test(ids)]
    status = snapshot.effective_status(
        c, ids, micro_now, expiry_period() // timedelta(microseconds=1)
    )
    if args.get("status"):
        shown = np.isin(status, [CODES[name] for name in args["status"]])
    else:
        recent = micro_now - RECENT_DAYS * 24 * hour
        shown = np.isin(status, [CODES[name] for name in ACTIVE]) | (
            np.isin(c.status[ids], [CODES[name] for name in HELPED]) & (c.closed[ids] >= recent)
        )
    return ids[shown], status[shown]


def _is_sqlite():
    return db.session.get_bind().dialect.name == "sqlite"


def _lon_lat(column):
    """The point's (lon, lat) as SQL expressions."""
    if _is_sqlite():
        # A SpatiaLite blob carries its bounding box in its header: for a point these are
        # its exact coordinates, read without parsing the geometry (ST_X does).
        return func.MbrMinX(column), func.MbrMinY(column)
    return func.ST_X(column), func.ST_Y(column)


def _located(rows, model, bbox):
    """rows (a select of model with its location's "lon" and "lat") kept to those in bbox
    (min_lon, min_lat, max_lon, max_lat), as a subquery; through the spatial index where
    it pays."""
    min_lon, min_lat, max_lon, max_lat = bbox
    if not _is_sqlite():
        # The GiST index, and PostGIS's estimate of how many rows match.
        rows = filter_in_box(
            rows, model, "location", (min_lat, min_lon, max_lat, max_lon), "postgresql"
        )
    elif (max_lon - min_lon) * (max_lat - min_lat) <= RTREE_MAX_DEG2:
        # SpatiaLite's R*Tree wins for a district or a street; for a province the list of
        # row ids it returns costs more than reading every row's header (measured).
        rows = filter_in_box(
            rows, model, "location", (min_lat, min_lon, max_lat, max_lon), "sqlite"
        )
    # OFFSET 0 keeps both databases from inlining the subquery, which would read the
    # coordinates (and any CASE) again for every use of them.
    inner = rows.offset(0).subquery()
    # Exactly in the box: both indexes compare single-precision boxes.
    return (
        select(inner)
        .where(inner.c.lon.between(min_lon, max_lon), inner.c.lat.between(min_lat, max_lat))
        .subquery()
    )


def _cell_index(coordinate, origin, size):
    """The grid cell a coordinate falls in, counted from origin (-180 or -90) so always >= 0."""
    offset = (coordinate + origin) / size
    if _is_sqlite():
        return cast(offset, Integer)  # truncates, and offset is never negative
    return cast(func.floor(offset), Integer)  # PostgreSQL's cast rounds


class _Grid:
    """Cells of size degrees over the box, numbered x-major from its corner: a request's cell
    is a small integer, so grouping is a bincount over at most ~200 x 200 cells (see
    cell_degrees), never a sort."""

    def __init__(self, bbox, size):
        self.size = size
        self.x0, self.y0 = self._cell(bbox[0], 180), self._cell(bbox[1], 90)
        self.rows = self._cell(bbox[3], 90) - self.y0 + 1
        self.cells = (self._cell(bbox[2], 180) - self.x0 + 1) * self.rows

    def _cell(self, coordinate, origin):
        return int(np.floor((coordinate + origin) / self.size))

    def of(self, lon, lat):
        """The cell number of each point (arrays)."""
        x = np.floor((lon + 180) / self.size).astype(np.int64) - self.x0
        y = np.floor((lat + 90) / self.size).astype(np.int64) - self.y0
        return x * self.rows + y


def _clusters(c, ids, status, bbox, size):
    """Clusters on the grid of size, each at the mean of its requests, counted by status."""
    if not len(ids):
        return []
    grid = _Grid(bbox, size)
    lon, lat = c.lon[ids], c.lat[ids]
    cell = grid.of(lon, lat)
    statuses = len(CODES)
    count = np.bincount(cell, minlength=grid.cells)
    sum_lon = np.bincount(cell, lon, grid.cells)
    sum_lat = np.bincount(cell, lat, grid.cells)
    by_status = np.bincount(cell * statuses + status, minlength=grid.cells * statuses).reshape(
        grid.cells, statuses
    )
    urgent = np.bincount(cell, c.urgency[ids] == snapshot.URGENT, grid.cells)
    oldest = np.full(grid.cells, np.iinfo(np.int64).max)
    np.minimum.at(oldest, cell, c.created[ids])
    found = np.flatnonzero(count)
    return [
        {
            "lat": round(lats / n, 5),
            "lon": round(lons / n, 5),
            "count": n,
            "by_status": {STATUSES[code]: k for code, k in enumerate(counts) if k},
            "urgent": int(urgent_count),
            "oldest_created_at": clock.isoformat(snapshot.from_micros(first)),
        }
        for n, lons, lats, counts, urgent_count, first in zip(
            count[found].tolist(),
            sum_lon[found].tolist(),
            sum_lat[found].tolist(),
            by_status[found].tolist(),
            urgent[found].tolist(),
            oldest[found].tolist(),
        )
    ]


def _heat(c, ids, status, bbox, size, now):
    """[lat, lon, weight] per cell of size holding open requests: at their mean, weighing each
    by how long it has waited (up to HEAT_HOURS)."""
    ids = ids[status == CODES["open"]]
    if not len(ids):
        return []
    grid = _Grid(bbox, size)
    lon, lat = c.lon[ids], c.lat[ids]
    cell = grid.of(lon, lat)
    hours = np.minimum((snapshot.micros(now) - c.created[ids]) / 3.6e9, float(HEAT_HOURS))
    count = np.bincount(cell, minlength=grid.cells)
    sum_lon = np.bincount(cell, lon, grid.cells)
    sum_lat = np.bincount(cell, lat, grid.cells)
    waited = np.bincount(cell, hours, grid.cells)
    found = np.flatnonzero(count)
    return [
        [round(lats / n, 5), round(lons / n, 5), round(hours / HEAT_HOURS, 4)]
        for n, lons, lats, hours in zip(
            count[found].tolist(),
            sum_lon[found].tolist(),
            sum_lat[found].tolist(),
            waited[found].tolist(),
        )
    ]


def _points(c, ids, status):
    """Each request as its exact point (coordinators see everything in their areas)."""
    ids, status = ids[:POINTS_MAX_CLOSE], status[:POINTS_MAX_CLOSE]
    r = HelpRequest
    details = {
        row[0]: row[1:]
        for row in db.session.execute(
            select(
                r.id, r.categories, r.urgency, r.created_at, r.description, r.household_size
            ).where(r.id.in_(ids.tolist()))
        )
    }
    # The need itself comes with the point, so the map's side panel needs no call that
    # carries (and logs as revealed) the contact details it does not show.
    points = []
    for id_, lat, lon, code in zip(
        ids.tolist(), c.lat[ids].tolist(), c.lon[ids].tolist(), status.tolist()
    ):
        if id_ not in details:
            continue  # changed since the snapshot caught up: the next call shows it
        categories, urgency, created_at, description, household_size = details[id_]
        points.append(
            {
                "id": id_,
                "lat": lat,
                "lon": lon,
                "status": STATUSES[code],
                "categories": categories,
                "urgency": urgency,
                "created_at": clock.isoformat(created_at),
                "description": description,
                "household_size": household_size,
            }
        )
    return points


def _volunteer_cells(user, args, bbox, cell, now):
    """On-duty volunteers placed in the caller's areas (and the area filter), counted per
    cluster cell with the claims they may still take."""
    v = Volunteer
    lon, lat = _lon_lat(v.location)
    rows = (
        select(lon.label("lon"), lat.label("lat"), _claims_left(v, now).label("free"))
        .join(User, User.id == v.user_id)
        .where(v.on_duty.is_(True), User.disabled_at.is_(None))
    )
    if user.role != "admin":
        rows = rows.where(_volunteer_placed_in(coordinator_area_ids(user.id)))
    if args.get("area"):
        rows = rows.where(_volunteer_placed_in([area_by_code(user, args["area"]).id]))
    c = _located(rows, v, bbox).c
    x, y = _cell_index(c.lon, 180, cell).label("x"), _cell_index(c.lat, 90, cell).label("y")
    found = db.session.execute(
        select(
            x,
            y,
            func.count(),
            func.sum(c.lon),
            func.sum(c.lat),
            func.sum(case((c.free > 0, c.free), else_=0)),
        )
        .group_by(x, y)
        .order_by(x, y)
    ).all()
    return [
        {
            "lat": round(sum_lat / count, 5),
            "lon": round(sum_lon / count, 5),
            "count": count,
            "free": int(free or 0),
        }
        for _, _, count, sum_lon, sum_lat, free in found
    ]


def _volunteer_placed_in(area_ids):
    return exists().where(
        VolunteerArea.volunteer_id == Volunteer.id, VolunteerArea.area_id.in_(area_ids)
    )


def _claims_left(v, now):
    """Claims a volunteer may still take, as claim_request counts them (may be below 0): their
    capacity (1 until one of their claims ended helped or confirmed) less the live claims
    they hold (an assist without outcome whose lease has not lapsed)."""
    a = Assist
    # Both through ix_assists_volunteer_outcome: a few index entries per volunteer.
    held = (
        select(func.count(a.id))
        .where(a.volunteer_id == v.user_id, a.outcome.is_(None), a.lease_expires_at > now)
        .scalar_subquery()
    )
    proven = exists().where(a.volunteer_id == v.user_id, a.outcome.in_(PROVEN_OUTCOMES))
    return case((proven, v.capacity), (v.capacity < 1, v.capacity), else_=1) - held
