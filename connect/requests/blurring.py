"""The public (blurred) point of a request: grid-seeded candidates kept clear of other homes."""

import math

from flask import current_app
from sqlalchemy import func, select

from connect.extensions import db
from connect.geo import bbox_for_radius, haversine_m
from connect.geo.blur import CANDIDATES, blur_candidate
from connect.requests.models import HelpRequest
from connect.spatial import filter_in_box

# A public point closer than this to another request's exact point would send people to
# the wrong house (and hint that someone lives there).
CLEARANCE_M = 50.0


def public_point(lat, lon, phone, request_id=None):
    """(lat, lon) to store as the public point of an exact point, 150-400 m from it.

    The first candidate with CLEARANCE_M of room around it from every other request's exact
    point; when none has, the one with the most room. ``request_id`` is the request being
    moved, whose own old point does not count; ``phone`` picks the household's own offset.
    """
    key = current_app.config["BLUR_SECRET"].encode()
    best, best_room = None, -1.0
    for attempt in range(CANDIDATES):
        candidate = blur_candidate(lat, lon, key, attempt, household=phone.encode())
        room = room_around(*candidate, request_id=request_id)
        if room >= CLEARANCE_M:
            return candidate
        if room > best_room:
            best, best_room = candidate, room
    current_app.logger.info(
        "no public point with %.0f m of room; took one with %.0f m", CLEARANCE_M, best_room
    )
    return best


def room_around(lat, lon, request_id=None, radius_m=CLEARANCE_M):
    """Metres from (lat, lon) to the nearest other exact point within radius_m, else inf."""
    nearest = math.inf
    for min_lat, min_lon, max_lat, max_lon in bbox_for_radius(lat, lon, radius_m):
        for other_lat, other_lon in _exact_points_in_box(
            min_lat, min_lon, max_lat, max_lon, request_id
        ):
            nearest = min(nearest, haversine_m(lat, lon, other_lat, other_lon))
    return nearest if nearest <= radius_m else math.inf


def _exact_points_in_box(min_lat, min_lon, max_lat, max_lon, request_id):
    r = HelpRequest
    query = select(func.ST_Y(r.location), func.ST_X(r.location)).where(
        # A purged request's location is its public point already: no home to keep clear of.
        r.purged_at.is_(None)
    )
    if request_id is not None:
        query = query.where(r.id != request_id)
    query = filter_in_box(
        query,
        r,
        "location",
        (min_lat, min_lon, max_lat, max_lon),
        db.session.get_bind().dialect.name,
    )
    return db.session.execute(query).all()
