"""Push matching: tell the nearest fitting on-duty volunteers about a request that is open.

Who is told (all must hold): on duty; not disabled; the request is within their travel radius
(great-circle, inclusive); they bring at least one of its categories; they have a free claim
(active claims < capacity, and < 1 until one of their claims ended helped or confirmed, as
``claim_request`` enforces); they were told of fewer than PUSH_MAX_PER_HOUR requests in the
last hour; they were not told of this request before; they are not its requester (account or
phone) nor anyone in ``exclude`` (the volunteer who just gave it back). Of those, the
PUSH_TOP_K closest are told, ties (to the metre) going to whoever was told less in the last
hour, then to the lower id. For one request the fair-ranking score (urgency, waiting time)
is the same for every volunteer, so distance alone orders them.

Only the nearest are read: on PostGIS the volunteers come nearest first (KNN on the GiST
index) a few times PUSH_TOP_K at a time, elsewhere in growing circles (REACHES_M), until the
PUSH_TOP_K best cannot be beaten by anyone not read. In a town of thousands of volunteers
that counts a few dozen, not everyone whose radius's box reaches the request.
"""

import functools
import math
from dataclasses import dataclass
from datetime import timedelta

import orjson
from flask import current_app
from sqlalchemy import Text, case, cast, exists, func, select

from connect import clock
from connect.accounts.models import MAX_RADIUS_M, User, Volunteer
from connect.extensions import db
from connect.geo import EARTH_RADIUS_M, bbox_for_radius, haversine_m, round_distance_m
from connect.notifications.delivery import deliver
from connect.notifications.models import Notification
from connect.requests.models import PROVEN_OUTCOMES, Assist, HelpRequest
from connect.spatial import SRID, filter_in_box, latlon

PUSH_KIND = "new_request"
DEGREES_PER_M = math.degrees(1 / EARTH_RADIUS_M)  # of latitude, along a meridian
# The circles searched without KNN (SQLite); the first holds the 5th closest fitting volunteer
# 99 % of the time among the load test's 100,000 in a province (~1.4 km; p50 160 m).
REACHES_M = (1_500, 5_000, 15_000)
KNN_MAX_LAT = 80.0  # nearest-first search bounds distances by cos(latitude + 1 degree)


@dataclass(frozen=True)
class Candidate:
    user_id: int
    distance_m: float
    told_last_hour: int

    @property
    def rank(self):
        return (round(self.distance_m), self.told_last_hour, self.user_id)


def push_request(help_request, exclude=(), now=None):
    """Notify the best PUSH_TOP_K fitting volunteers of an open request; returns their user
    ids, best first. A request that is not open (hidden, cancelled, claimed) pushes nothing."""
    config = current_app.config
    now = now or clock.now()
    # A lease that lapsed long ago reopens a request that has expired since: not pushed.
    if help_request.status != "open" or help_request.past_expiry(now) or config["PUSH_TOP_K"] <= 0:
        return []
    chosen = nearest_candidates(help_request, config["PUSH_TOP_K"], exclude, now)
    for candidate in chosen:
        deliver(
            candidate.user_id,
            PUSH_KIND,
            help_request.id,
            public_payload(help_request, candidate.distance_m),
            flush=False,
        )
    if chosen:
        db.session.flush()  # together: one INSERT for all of them on PostgreSQL
    return [candidate.user_id for candidate in chosen]


def nearest_candidates(help_request, k, exclude=(), now=None):
    """The k volunteers to tell of this request now, best first."""
    now = now or clock.now()
    for reach_m, limit in _steps(help_request, k):
        found, sure_m = _search(help_request, exclude, now, reach_m, limit)
        ranked = sorted(found, key=lambda c: c.rank)
        # Everyone who fits within sure_m was found; one farther has a distance rounding to
        # at least round(sure_m), so cannot tie with or pass a k-th at sure_m - 2 or less.
        if sure_m >= MAX_RADIUS_M or (
            len(ranked) >= k and round(ranked[k - 1].distance_m) <= sure_m - 2
        ):
            break
    return ranked[:k]


def candidates(help_request, exclude=(), now=None):
    """Every volunteer who may be told of this request now (unranked)."""
    return _search(help_request, exclude, now or clock.now(), MAX_RADIUS_M, None)[0]


def _steps(help_request, k):
    """(reach in metres, row limit) of each try, the last one finding everyone."""
    lat, lon = latlon(help_request.location)
    boxes = bbox_for_radius(lat, lon, MAX_RADIUS_M)
    if (
        db.session.get_bind().dialect.name == "postgresql"
        and len(boxes) == 1
        and abs(lat) <= KNN_MAX_LAT
        and -179.0 <= boxes[0][1]
        and boxes[0][3] <= 179.0
    ):
        # Nearest first through the GiST index: only the first rows are counted and read.
        return [(MAX_RADIUS_M, 8 * k), (MAX_RADIUS_M, 64 * k), (MAX_RADIUS_M, None)]
    return [*((reach_m, None) for reach_m in REACHES_M), (MAX_RADIUS_M, None)]


def _search(help_request, exclude, now, reach_m, limit):
    """(the candidates among the rows, a distance within which every candidate is among
    them): all within reach_m, or with a limit that was hit only up to the last row's bound."""
    lat, lon = latlon(help_request.location)
    wanted = set(help_request.categories or ())
    found = {}
    rows = []
    # Radii differ per volunteer: the box of the reach (at most the largest allowed radius)
    # holds all who could reach the request (the spatial index), the exact distance decides.
    for box in bbox_for_radius(lat, lon, reach_m):
        rows += _rows(help_request, box, exclude, now, limit)
    sure_m = reach_m
    if limit is not None and len(rows) >= limit:
        # Rows come by planar degree distance p; along any path at latitudes up to L a metre
        # of ground is at least cos(L) * R * radians of (lat, lon) plane, so a candidate not
        # read (within MAX_RADIUS_M, its path within a degree of the request's latitude) is
        # at least this far. A thousandth off for rounding.
        _, v_lat, v_lon, *_ = rows[-1]
        sure_m = min(
            reach_m,
            0.999
            * EARTH_RADIUS_M
            * math.radians(math.hypot(v_lat - lat, v_lon - lon))
            * math.cos(math.radians(abs(lat) + 1.0)),
        )
    for user_id, v_lat, v_lon, radius_m, categories, told in rows:
        distance = haversine_m(v_lat, v_lon, lat, lon)
        if distance <= radius_m and not wanted.isdisjoint(_categories(categories)):
            found[user_id] = Candidate(user_id, distance, told)
    return list(found.values()), sure_m


def _rows(help_request, box, exclude, now, limit=None):
    v, n, a = Volunteer, Notification, Assist
    told_last_hour = (
        select(func.count(n.id))
        .where(
            n.user_id == v.user_id, n.kind == PUSH_KIND, n.created_at > now - timedelta(hours=1)
        )
        .scalar_subquery()
    )
    active_claims = (
        select(func.count(a.id))
        .where(a.volunteer_id == v.user_id, a.outcome.is_(None))
        .scalar_subquery()
    )
    proven = exists().where(a.volunteer_id == v.user_id, a.outcome.in_(PROVEN_OUTCOMES))
    told_of_this = exists().where(
        n.user_id == v.user_id, n.request_id == help_request.id, n.kind == PUSH_KIND
    )
    excluded = {user_id for user_id in (help_request.requester_id, *exclude) if user_id}
    lat, lon = latlon(help_request.location)
    # Each volunteer's own radius as a box around them, in SQL and before the subqueries:
    # in a province the largest radius's box holds every volunteer, but only those whose
    # radius nearly reaches the request need counting. Conservative (the widest longitude
    # span within reach, plus 1 %); the exact distance decides afterwards.
    lon_degrees_per_m = (
        DEGREES_PER_M
        * 1.01
        / math.cos(math.radians(min(89.0, abs(lat) + math.degrees(MAX_RADIUS_M / EARTH_RADIUS_M))))
    )
    v_lat, v_lon = func.ST_Y(v.location), func.ST_X(v.location)
    near_antimeridian = abs(lon) > 179.0  # the longitude difference wraps there
    query = (
        select(v.user_id, v_lat, v_lon, v.radius_m, cast(v.categories, Text), told_last_hour)
        .join(User, User.id == v.user_id)
        .where(
            v.on_duty.is_(True),
            func.abs(v_lat - lat) <= v.radius_m * (DEGREES_PER_M * 1.01),
            near_antimeridian or func.abs(v_lon - lon) <= v.radius_m * lon_degrees_per_m,
            User.disabled_at.is_(None),
            User.phone != help_request.phone,
            told_last_hour < current_app.config["PUSH_MAX_PER_HOUR"],
            active_claims < case((proven, v.capacity), else_=1),
            ~told_of_this,
        )
    )
    if excluded:
        query = query.where(v.user_id.not_in(excluded))
    query = filter_in_box(query, v, "location", box, db.session.get_bind().dialect.name)
    if limit is not None:  # PostGIS only (_steps): KNN on the planar distance in degrees
        query = query.order_by(
            v.location.op("<->")(func.ST_SetSRID(func.ST_MakePoint(lon, lat), SRID))
        ).limit(limit)
    return db.session.execute(query).all()


@functools.lru_cache(maxsize=1024)
def _categories(text):
    # Read as text: a few dozen distinct lists among thousands of volunteers, one parse each.
    return frozenset(orjson.loads(text) or ()) if text else frozenset()


def public_payload(help_request, distance_m=None):
    """What a notification about a request may carry: its public fields only (never the
    requester's name, phone, address or exact point)."""
    lat, lon = latlon(help_request.public_location)
    payload = {
        "categories": list(help_request.categories or ()),
        "urgency": help_request.urgency,
        "household_size": help_request.household_size,
        "description": help_request.description,
        "location": {"lat": round(lat, 5), "lon": round(lon, 5)},
        "created_at": clock.isoformat(help_request.created_at),
    }
    if distance_m is not None:
        payload["distance_m"] = round_distance_m(distance_m)
    return payload


def reloaded_request(request_id):
    """The request as stored now (a bulk UPDATE may have changed it behind the session)."""
    return db.session.execute(
        select(HelpRequest)
        .where(HelpRequest.id == request_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
