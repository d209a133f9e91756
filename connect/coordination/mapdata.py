"""The console map's data: requests counted on a grid by zoom, a heat layer of unmet need
and on-duty volunteers, all aggregated in SQL so 100,000 requests never leave the database.

One grouped query per layer. Requests are grouped by (heat cell, effective status, urgency);
heat cells are half a cluster cell, so clusters are rolled up from them in Python (a few
hundred rows at most), and the heat layer is the open groups of the same rows.
"""
import math
from datetime import timedelta

from sqlalchemy import Integer, and_, case, cast, exists, func, literal, or_, select, text

from connect import clock
from connect.accounts.models import User
from connect.coordination.areas import coordinator_area_ids
from connect.coordination.filters import area_by_code, effective_status_column, request_conditions
from connect.coordination.models import VolunteerArea
from connect.extensions import db
from connect.requests.models import STATUSES, Assist, HelpRequest
from connect.requests.queries import expiry_period
from connect.spatial import filter_in_box
from connect.volunteers.models import Volunteer

CELL_PX = 60  # a cluster cell is about this many screen pixels (256 px tiles)
MAX_CELLS_ACROSS = 100  # a box wider than 6,000 px at its zoom gets coarser cells
POINTS_MAX = 500  # at most this many requests come as points at any zoom
POINTS_ZOOM = 16  # from this zoom on, requests come as points ...
POINTS_MAX_CLOSE = 5000  # ... unless the box still holds more than this
HEAT_HOURS = 72  # waiting this long (or longer) weighs 1 in the heat layer
RECENT_DAYS = 7  # helped and confirmed requests closed this recently are shown by default
LIVE_STATUSES = ("open", "claimed")
FINISHED_STATUSES = ("helped", "confirmed")
PROVEN_OUTCOMES = ("helped", "confirmed")
RTREE_MAX_DEG2 = 0.25  # SQLite: boxes up to this many square degrees go through the R*Tree


_STATUS_CODES = {status: code for code, status in enumerate(STATUSES)}
_CELLS = 1 << 12  # heat cells across a box at most (see MAX_CELLS_ACROSS): key packing


def cell_degrees(zoom, bbox):
    """The cluster cell in degrees: ~60 px at this zoom, coarser for a box far too big for it."""
    min_lon, min_lat, max_lon, max_lat = bbox
    cell = 360.0 / 2 ** zoom / 256 * CELL_PX
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
    # The status filter is applied here, on the raw columns (see _status_in).
    conditions = request_conditions(user, {**args, "status": None}, now)
    conditions.append(_status_in(args["status"], now) if args.get("status")
                      else _shown_by_default(now))
    groups = _request_groups(conditions, bbox, cell / 2, now)
    total = sum(group[4] for group in groups)
    points_mode = total <= POINTS_MAX or (zoom >= POINTS_ZOOM and total <= POINTS_MAX_CLOSE)
    heat = _heat(groups)
    return {
        "zoom": zoom,
        "cell_deg": None if points_mode else cell,
        "total": total,
        "clusters": [] if points_mode else _clusters(groups),
        "points": _points(conditions, bbox, now) if points_mode and total else [],
        "heat": heat,
        "heat_max": max((weight for _, _, weight in heat), default=0.0),
        "volunteers": _volunteer_cells(user, args, bbox, cell, now),
    }


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
        rows = filter_in_box(rows, model, "location", (min_lat, min_lon, max_lat, max_lon),
                             "postgresql")
    elif (max_lon - min_lon) * (max_lat - min_lat) <= RTREE_MAX_DEG2:
        # SpatiaLite's R*Tree wins for a district or a street; for a province the list of
        # row ids it returns costs more than reading every row's header (measured).
        rows = filter_in_box(rows, model, "location", (min_lat, min_lon, max_lat, max_lon),
                             "sqlite")
    # OFFSET 0 keeps both databases from inlining the subquery, which would read the
    # coordinates (and any CASE) again for every use of them.
    inner = rows.offset(0).subquery()
    # Exactly in the box: both indexes compare single-precision boxes.
    return select(inner).where(inner.c.lon.between(min_lon, max_lon),
                               inner.c.lat.between(min_lat, max_lat)).subquery()


def _shown_by_default(now):
    """Open and claimed requests, and those helped or confirmed in the last RECENT_DAYS."""
    return or_(_status_in(LIVE_STATUSES, now),
               and_(HelpRequest.status.in_(FINISHED_STATUSES),
                    HelpRequest.closed_at >= now - timedelta(days=RECENT_DAYS)))


def _status_in(statuses, now):
    """Requests whose effective status (effective_status_column) is one of these."""
    # The same rows as effective_status_column(now).in_(statuses), but on the raw columns,
    # whose statistics let PostgreSQL estimate the row count (and plan a hash aggregate,
    # not a sort spilling to disk); the CASE gets the default guess of 0.5 %.
    r = HelpRequest
    lapsed_long_ago = now - expiry_period()
    claimed_lapsed = and_(r.status == "claimed", or_(r.lease_expires_at.is_(None),
                                                     r.lease_expires_at <= lapsed_long_ago))
    rows_of = {
        "open": [and_(r.status == "open", r.expires_at > now),
                 and_(r.status == "claimed", r.lease_expires_at <= now,
                      r.lease_expires_at > lapsed_long_ago)],
        "claimed": [and_(r.status == "claimed", r.lease_expires_at > now)],
        "expired": [r.status == "expired", and_(r.status == "open", r.expires_at <= now),
                    claimed_lapsed],
    }
    return or_(*(condition for status in statuses
                 for condition in rows_of.get(status, [r.status == status])))


def _cell_index(coordinate, origin, size):
    """The grid cell a coordinate falls in, counted from origin (-180 or -90) so always >= 0."""
    offset = (coordinate + origin) / size
    if _is_sqlite():
        return cast(offset, Integer)  # truncates, and offset is never negative
    return cast(func.floor(offset), Integer)  # PostgreSQL's cast rounds


def _hours_waited(created_at, now):
    """Hours since created_at as a SQL expression."""
    if _is_sqlite():
        return (func.julianday(literal(now)) - func.julianday(created_at)) * 24.0
    # date_part gives a double; EXTRACT a numeric, twice as slow to sum over 100 k rows.
    return func.date_part("epoch", literal(now) - created_at) / 3600.0


def _matching(conditions, bbox, now, *columns):
    """A subquery of the matching requests in the box: lon, lat, status (effective) and
    the given labelled columns."""
    r = HelpRequest
    lon, lat = _lon_lat(r.location)
    rows = select(lon.label("lon"), lat.label("lat"), effective_status_column(now).label("status"),
                  *columns).where(*conditions)
    return _located(rows, r, bbox)


def _request_groups(conditions, bbox, size, now):
    """Rows (cell x, cell y, status, urgency, count, sum lon, sum lat, oldest, waited) per
    heat cell, effective status and urgency; waited sums open ones' hours, capped."""
    r = HelpRequest
    c = _matching(conditions, bbox, now, r.urgency.label("urgency"),
                  r.created_at.label("created_at")).c
    waited = case((c.status != "open", None),
                  (c.created_at <= now - timedelta(hours=HEAT_HOURS), float(HEAT_HOURS)),
                  else_=_hours_waited(c.created_at, now))
    # One integer key per group: cell (from the box's corner), status and urgency. Sorting
    # (SQLite always sorts to group) and hashing one integer beats four columns, two of text.
    # The corner's cell, less one so rounding can never make an index negative.
    x0, y0 = math.floor((bbox[0] + 180) / size) - 1, math.floor((bbox[1] + 90) / size) - 1
    key = (((_cell_index(c.lon, 180, size) - x0) * _CELLS + _cell_index(c.lat, 90, size) - y0)
           * len(_STATUS_CODES) + case(_STATUS_CODES, value=c.status, else_=0)) * 2 \
        + case((c.urgency == "urgent", 1), else_=0)
    rows = db.session.execute(
        select(key.label("key"), func.count(), func.sum(c.lon), func.sum(c.lat),
               func.min(c.created_at), func.sum(waited))
        .group_by("key")).all()
    groups = []
    for key, *sums in rows:
        key, urgent = divmod(key, 2)
        key, status = divmod(key, len(_STATUS_CODES))
        x, y = divmod(key, _CELLS)
        groups.append((x + x0, y + y0, STATUSES[status], "urgent" if urgent else "normal",
                       *sums))
    return groups


def _clusters(groups):
    """Clusters on the grid of twice the heat cell, each at the mean of its requests."""
    cells = {}
    for x, y, status, urgency, count, sum_lon, sum_lat, oldest, _ in groups:
        cell = cells.setdefault((x // 2, y // 2), {"count": 0, "lon": 0.0, "lat": 0.0,
                                                    "by_status": {}, "urgent": 0,
                                                    "oldest": oldest})
        cell["count"] += count
        cell["lon"] += sum_lon
        cell["lat"] += sum_lat
        cell["by_status"][status] = cell["by_status"].get(status, 0) + count
        cell["urgent"] += count if urgency == "urgent" else 0
        cell["oldest"] = min(cell["oldest"], oldest)
    return [{"lat": round(cell["lat"] / cell["count"], 5),
             "lon": round(cell["lon"] / cell["count"], 5),
             "count": cell["count"], "by_status": cell["by_status"], "urgent": cell["urgent"],
             "oldest_created_at": clock.isoformat(cell["oldest"])}
            for _, cell in sorted(cells.items())]


def _heat(groups):
    """[lat, lon, weight] per heat cell holding open requests: at their mean, weighing each
    by how long it has waited (up to HEAT_HOURS)."""
    cells = {}
    for x, y, status, _, count, sum_lon, sum_lat, _, waited in groups:
        if status != "open":
            continue
        cell = cells.setdefault((x, y), [0, 0.0, 0.0, 0.0])
        cell[0] += count
        cell[1] += sum_lat
        cell[2] += sum_lon
        cell[3] += float(waited or 0.0)
    return [[round(sum_lat / count, 5), round(sum_lon / count, 5),
             round(waited / HEAT_HOURS, 4)]
            for _, (count, sum_lat, sum_lon, waited) in sorted(cells.items())]


def _points(conditions, bbox, now):
    """Each request as its exact point (coordinators see everything in their areas)."""
    r = HelpRequest
    c = _matching(conditions, bbox, now, r.id.label("id"),
                  r.categories.label("categories"), r.urgency.label("urgency"),
                  r.created_at.label("created_at"), r.description.label("description"),
                  r.household_size.label("household_size")).c
    rows = db.session.execute(
        select(c.id, c.lat, c.lon, c.status, c.categories, c.urgency, c.created_at,
               c.description, c.household_size)
        .order_by(c.id).limit(POINTS_MAX_CLOSE)).all()
    # The need itself comes with the point, so the map's side panel needs no call that
    # carries (and logs as revealed) the contact details it does not show.
    return [{"id": id_, "lat": lat, "lon": lon, "status": status, "categories": categories,
             "urgency": urgency, "created_at": clock.isoformat(created_at),
             "description": description, "household_size": household_size}
            for id_, lat, lon, status, categories, urgency, created_at, description,
            household_size in rows]


def _volunteer_cells(user, args, bbox, cell, now):
    """On-duty volunteers placed in the caller's areas (and the area filter), counted per
    cluster cell with the claims they may still take."""
    v = Volunteer
    lon, lat = _lon_lat(v.location)
    rows = (select(lon.label("lon"), lat.label("lat"), _claims_left(v, now).label("free"))
            .join(User, User.id == v.user_id)
            .where(v.on_duty.is_(True), User.disabled_at.is_(None)))
    if user.role != "admin":
        rows = rows.where(_volunteer_placed_in(coordinator_area_ids(user.id)))
    if args.get("area"):
        rows = rows.where(_volunteer_placed_in([area_by_code(user, args["area"]).id]))
    c = _located(rows, v, bbox).c
    x, y = _cell_index(c.lon, 180, cell).label("x"), _cell_index(c.lat, 90, cell).label("y")
    found = db.session.execute(
        select(x, y, func.count(), func.sum(c.lon), func.sum(c.lat),
               func.sum(case((c.free > 0, c.free), else_=0)))
        .group_by(x, y).order_by(x, y)).all()
    return [{"lat": round(sum_lat / count, 5), "lon": round(sum_lon / count, 5),
             "count": count, "free": int(free or 0)}
            for _, _, count, sum_lon, sum_lat, free in found]


def _volunteer_placed_in(area_ids):
    return exists().where(VolunteerArea.volunteer_id == Volunteer.id,
                          VolunteerArea.area_id.in_(area_ids))


def _claims_left(v, now):
    """Claims a volunteer may still take, as claim_request counts them (may be below 0): their
    capacity (1 until one of their claims ended helped or confirmed) less the live claims
    they hold (an assist without outcome whose lease has not lapsed)."""
    a = Assist
    # Both through ix_assists_volunteer_outcome: a few index entries per volunteer.
    held = (select(func.count(a.id))
            .where(a.volunteer_id == v.user_id, a.outcome.is_(None), a.lease_expires_at > now)
            .scalar_subquery())
    proven = exists().where(a.volunteer_id == v.user_id, a.outcome.in_(PROVEN_OUTCOMES))
    return case((proven, v.capacity), (v.capacity < 1, v.capacity), else_=1) - held
