"""Look-alikes of a new request from other phones, flagged for coordinators (one active request
per phone is a request rule: connect.requests.phones)."""

from datetime import timedelta

from sqlalchemy import func, select

from connect import clock
from connect.extensions import db
from connect.geo import bbox_for_radius, haversine_m
from connect.requests.models import HelpRequest
from connect.requests.state import ACTIVE, HELPED
from connect.safety.models import RequestFlag
from connect.spatial import filter_in_box

LOOKALIKE_RADIUS_M = 100.0
LOOKALIKE_WINDOW = timedelta(hours=48)
# Enough for a coordinator to see the pattern; a crowded block must not make dozens.
MAX_FLAGS_PER_POST = 5
# A cancelled or expired request asks for nothing any more, so a new one is not its double;
# a hidden one is kept: posting it again from another phone is what a spammer does.
LOOKALIKE_STATUSES = (*ACTIVE, *HELPED, "hidden")


# -- look-alikes from other phones ------------------------------------------------------


def flag_lookalikes(help_request, lat, lon, now=None, **_details):
    """Flag look-alikes of a new request for coordinators (a ``posted`` receiver); returns the
    flags, nearest first."""
    # A look-alike shares a category, came from another phone, was posted in the last 48 h
    # and its exact point is within 100 m (bbox on the spatial index, then haversine).
    if help_request.location_precision != "exact":
        # At its commune's point, like every request texted from that commune: being near
        # another says nothing about being the same household.
        return []
    now = now or clock.now()
    wanted = set(help_request.categories)
    found = {}
    for box in bbox_for_radius(lat, lon, LOOKALIKE_RADIUS_M):
        for other_id, categories, other_lat, other_lon in _candidates(help_request, box, now):
            distance = haversine_m(lat, lon, other_lat, other_lon)
            if distance <= LOOKALIKE_RADIUS_M and wanted & set(categories or ()):
                found[other_id] = distance
    nearest = sorted(found, key=lambda other_id: (found[other_id], other_id))
    flags = [
        RequestFlag(
            request_id=help_request.id,
            kind="possible_duplicate",
            related_request_id=other_id,
            created_at=now,
        )
        for other_id in nearest[:MAX_FLAGS_PER_POST]
    ]
    db.session.add_all(flags)
    db.session.flush()
    return flags


def _candidates(help_request, box, now):
    r = HelpRequest
    query = select(r.id, r.categories, func.ST_Y(r.location), func.ST_X(r.location)).where(
        r.id != help_request.id,
        r.phone != help_request.phone,
        r.created_at >= now - LOOKALIKE_WINDOW,
        r.status.in_(LOOKALIKE_STATUSES),
        r.location_precision == "exact",
        # A purged request's location is its public point: nothing exact to compare.
        r.purged_at.is_(None),
    )
    query = filter_in_box(query, r, "location", box, db.session.get_bind().dialect.name)
    return db.session.execute(query).all()


def flag_disputed(help_request, now=None, **_details):
    """The requester says they were not helped: coordinators look at who marked it helped."""
    db.session.add(RequestFlag(request_id=help_request.id, kind="disputed", created_at=now))
    db.session.flush()
