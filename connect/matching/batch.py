"""Batch assignment for coordinators: preview an area's optimal assignment, then apply it.

The solver is ``connect.matching.assignment`` (pure); this module turns an area's rows into its
inputs and its answer into claims. docs/assignment.md says what "open" and "available" mean,
what the objective is and how a claim that raced in between is handled.
"""

import math
import time
from dataclasses import replace

import numpy as np
from flask import current_app
from geoalchemy2.shape import to_shape
from sqlalchemy import and_, func, select

from connect import clock
from connect.accounts.models import MAX_RADIUS_M, User, Volunteer
from connect.accounts.services import NotAVolunteer
from connect.areas.models import Area, RequestArea
from connect.areas.services import may_coordinate_area
from connect.errors import (
    ClaimConflict,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from connect.extensions import db
from connect.geo import EARTH_RADIUS_M, haversine_m
from connect.matching import assignment
from connect.matching.push import public_payload
from connect.notifications.delivery import notify
from connect.requests import services as request_services
from connect.requests.categories import BITS
from connect.requests.errors import CapacityReached, NewVolunteerLimit
from connect.requests.models import PROVEN_OUTCOMES, Assist, HelpRequest
from connect.requests.timeouts import apply_timeouts
from connect.spatial import filter_in_box, latlon

_M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0

# Why an applied pair was skipped (docs/assignment.md, docs/api.md).
NOT_IN_AREA = "not_in_area"
NOT_A_VOLUNTEER = "not_a_volunteer"
VOLUNTEER_UNAVAILABLE = "volunteer_unavailable"
OWN_REQUEST = "own_request"
OUT_OF_RANGE = "out_of_range"
CATEGORY_MISMATCH = "category_mismatch"
REQUEST_NOT_OPEN = "request_not_open"
ALREADY_ASSIGNED = "already_assigned"
NO_CAPACITY = "no_capacity"
SKIP_REASONS = (
    NOT_IN_AREA,
    NOT_A_VOLUNTEER,
    VOLUNTEER_UNAVAILABLE,
    OWN_REQUEST,
    OUT_OF_RANGE,
    CATEGORY_MISMATCH,
    REQUEST_NOT_OPEN,
    ALREADY_ASSIGNED,
    NO_CAPACITY,
)


# -- who may ----------------------------------------------------------------------------------


def coordinated_area(code, user):
    """The area with this code, for a user who may coordinate it (401/403/404 otherwise)."""
    if user is None:
        raise Unauthorized()
    if not user.is_staff:
        raise Forbidden(
            "Only coordinators of the area, and admins, assign volunteers.", code="not_coordinator"
        )
    area = db.session.execute(select(Area).where(Area.code == code)).scalar_one_or_none()
    if area is None:
        raise NotFound(f"No area with code {code}.", code="unknown_area")
    if not may_coordinate_area(user, area):
        raise Forbidden("You coordinate other areas, not this one.", code="not_coordinator")
    return area


# -- what is open, who is available -----------------------------------------------------------


def _check_limit(what, count, setting):
    limit = current_app.config[setting]
    if count > limit:
        raise ValidationFailed(
            f"This area has {count:,} {what}; one preview takes at most {limit:,}. Preview a "
            "smaller area (a district or commune) instead.",
            code="batch_too_large",
            details={what.replace(" ", "_"): count, "limit": limit},
        )


def _open_requests(area, now):
    """Columns of the area's open requests, in id order."""
    r = HelpRequest
    in_area = and_(
        RequestArea.area_id == area.id, RequestArea.request_id == r.id, r.is_open_at(now)
    )
    count = db.session.execute(
        select(func.count())
        .select_from(r)
        .join(RequestArea, RequestArea.request_id == r.id)
        .where(in_area)
    ).scalar_one()
    _check_limit("open requests", count, "ASSIGNMENT_MAX_REQUESTS")
    rows = db.session.execute(
        select(
            r.id,
            func.ST_Y(r.location),
            func.ST_X(r.location),
            r.categories,
            r.urgency,
            r.created_at,
            r.requester_id,
        )
        .join(RequestArea, RequestArea.request_id == r.id)
        .where(in_area)
        .order_by(r.id)
    ).all()
    return {
        "ids": np.array([row[0] for row in rows], dtype=np.int64),
        "lats": np.array([row[1] for row in rows], dtype=np.float64),
        "lons": np.array([row[2] for row in rows], dtype=np.float64),
        "categories": BITS.masks(row[3] for row in rows),
        "urgent": np.array([row[4] == "urgent" for row in rows], dtype=bool),
        "waiting_s": np.array(
            [max(0.0, (now - row[5]).total_seconds()) for row in rows], dtype=np.float64
        ),
        "requester": np.array([row[6] or 0 for row in rows], dtype=np.int64),
    }


def _reach_box(area):
    """(area bbox, degrees of lat and of lon per metre (None: any lon), box of the widest reach)."""
    min_lon, min_lat, max_lon, max_lat = to_shape(area.geometry).bounds
    lat_per_m = 1.0 / _M_PER_DEG
    widest = max(abs(min_lat), abs(max_lat)) + MAX_RADIUS_M * lat_per_m
    # Near a pole every longitude is within reach: no longitude bound then.
    lon_per_m = (1.0 / (_M_PER_DEG * math.cos(math.radians(widest)))) if widest < 89.0 else None
    pad_lat = MAX_RADIUS_M * lat_per_m
    pad_lon = MAX_RADIUS_M * lon_per_m if lon_per_m else 360.0
    box = (
        max(-90.0, min_lat - pad_lat),
        max(-180.0, min_lon - pad_lon),
        min(90.0, max_lat + pad_lat),
        min(180.0, max_lon + pad_lon),
    )
    return (min_lat, min_lon, max_lat, max_lon), lat_per_m, lon_per_m, box


def _available_volunteers(area, now):
    """Columns of the on-duty volunteers whose travel radius reaches the area's box."""
    v = Volunteer
    (min_lat, min_lon, max_lat, max_lon), lat_per_m, lon_per_m, box = _reach_box(area)
    lat, lon = func.ST_Y(v.location), func.ST_X(v.location)
    # Each volunteer's own radius, as a box around the area's bounding box: a volunteer across
    # the district line who travels far enough is available; the solver then checks exactly.
    reach = [lat >= min_lat - v.radius_m * lat_per_m, lat <= max_lat + v.radius_m * lat_per_m]
    if lon_per_m is not None:
        reach += [lon >= min_lon - v.radius_m * lon_per_m, lon <= max_lon + v.radius_m * lon_per_m]
    query = (
        select(v.user_id, User.name, lat, lon, v.radius_m, v.categories, v.capacity)
        .join(User, User.id == v.user_id)
        .where(v.on_duty.is_(True), User.disabled_at.is_(None), *reach)
    )
    query = filter_in_box(query, v, "location", box, db.session.get_bind().dialect.name)
    count = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    _check_limit("available volunteers", count, "ASSIGNMENT_MAX_VOLUNTEERS")
    rows = db.session.execute(query.order_by(v.user_id)).all()
    ids = [row[0] for row in rows]
    free = _free_capacity(ids, [row[6] for row in rows], query, now)
    return {
        "ids": np.array(ids, dtype=np.int64),
        "names": {row[0]: row[1] for row in rows},
        "lats": np.array([row[2] for row in rows], dtype=np.float64),
        "lons": np.array([row[3] for row in rows], dtype=np.float64),
        "radius_m": np.array([row[4] for row in rows], dtype=np.float64),
        "categories": BITS.masks(row[5] for row in rows),
        "capacity": np.array(free, dtype=np.int64),
    }


def _free_capacity(ids, capacities, volunteers_query, now):
    """Claims each volunteer may still take, as requests.services.claim_request counts them."""
    # Their capacity (1 until one of their claims ended helped or confirmed) less the claims
    # they hold now; a lapsed lease is not held any more.
    among = select(volunteers_query.subquery().c.user_id)
    live = dict(
        db.session.execute(
            select(HelpRequest.claimed_by_id, func.count())
            .where(HelpRequest.is_claimed_at(now), HelpRequest.claimed_by_id.in_(among))
            .group_by(HelpRequest.claimed_by_id)
        ).all()
    )
    proven = set(
        db.session.execute(
            select(Assist.volunteer_id)
            .distinct()
            .where(Assist.outcome.in_(PROVEN_OUTCOMES), Assist.volunteer_id.in_(among))
        ).scalars()
    )
    return [
        max(0, (capacity if user_id in proven else min(capacity, 1)) - live.get(user_id, 0))
        for user_id, capacity in zip(ids, capacities)
    ]


# -- preview ----------------------------------------------------------------------------------


def preview_assignment(code, user):
    """Who would go where in this area: the optimum, why the rest stay unserved, a baseline."""
    started = time.perf_counter()
    area = coordinated_area(code, user)
    now = clock.now()
    area_view = {"code": area.code, "name": area.name, "level": area.level}
    reqs = _open_requests(area, now)
    vols = _available_volunteers(area, now)
    _end_read_transaction()
    loaded = time.perf_counter()

    requests = assignment.Requests(
        reqs["ids"],
        reqs["lats"],
        reqs["lons"],
        reqs["categories"],
        reqs["urgent"],
        reqs["waiting_s"],
    )
    volunteers = assignment.Volunteers(
        vols["ids"],
        vols["lats"],
        vols["lons"],
        vols["radius_m"],
        vols["categories"],
        vols["capacity"],
    )
    candidates = _without_own_requests(
        assignment.find_candidates(requests, volunteers), reqs["requester"]
    )
    _check_limit("candidate pairs", len(candidates), "ASSIGNMENT_MAX_CANDIDATE_PAIRS")
    best = assignment.assign(requests, volunteers, candidates=candidates)
    baseline = assignment.greedy_nearest_first(requests, volunteers, candidates=candidates)
    finished = time.perf_counter()

    urgent = dict(zip(reqs["ids"].tolist(), reqs["urgent"].tolist()))
    pairs = [
        {"request_id": rid, "volunteer_id": vid, "distance_m": round(d), "urgent": urgent[rid]}
        for rid, vid, d in best.pairs()
    ]
    return {
        "area": area_view,
        "computed_at": clock.isoformat(now),
        "open_requests": best.n_requests,
        "urgent_requests": best.n_urgent,
        "available_volunteers": len(volunteers),
        "free_capacity": int(volunteers.capacity.sum()),
        "served": best.served,
        "served_urgent": best.served_urgent,
        "total_km": round(best.total_km, 3),
        "pairs": pairs,
        "volunteers": [
            {"volunteer_id": vid, "name": vols["names"][vid], "assigned": len(rids)}
            for vid, rids in sorted(best.by_volunteer().items())
        ],
        "unserved": [
            {"request_id": rid, "reason": reason} for rid, reason in best.unserved.items()
        ],
        "unserved_by_reason": best.reason_counts(),
        "greedy_baseline": {
            "served": baseline.served,
            "served_urgent": baseline.served_urgent,
            "total_km": round(baseline.total_km, 3),
        },
        "timings": {
            "load_ms": _ms(loaded - started),
            "prune_ms": _ms(candidates.seconds),
            "solve_ms": _ms(best.timings["solve_s"]),
            "baseline_ms": _ms(baseline.timings["solve_s"]),
            "total_ms": _ms(finished - started),
        },
    }


def _ms(seconds):
    return round(seconds * 1000.0, 1)


def _end_read_transaction():
    # A preview writes nothing. On SQLite every POST begins with BEGIN IMMEDIATE (database.py),
    # which would hold every writer (claims, posts) back for the seconds the solver takes.
    db.session.rollback()


def _without_own_requests(candidates, requester):
    """The candidate pairs less those giving a volunteer a request they posted themselves."""
    own = requester[candidates.req] == candidates.volunteers.ids[candidates.vol]
    if not own.any():
        return candidates
    keep = ~own
    return replace(
        candidates,
        req=candidates.req[keep],
        vol=candidates.vol[keep],
        dist_m=candidates.dist_m[keep],
    )


# -- apply ------------------------------------------------------------------------------------


def apply_assignment(code, user, pairs):
    """Claim each (request_id, volunteer_id) for its volunteer, skipping what no longer fits."""
    # One transaction: every claim, assist, event and notification, or (on an error) none.
    area = coordinated_area(code, user)
    limit = current_app.config["ASSIGNMENT_MAX_PAIRS"]
    if len(pairs) > limit:
        raise ValidationFailed(
            f"At most {limit:,} pairs in one apply; send the rest in another.",
            code="batch_too_large",
            details={"pairs": len(pairs), "limit": limit},
        )
    request_ids = [request_id for request_id, _ in pairs]
    if len(set(request_ids)) != len(request_ids):
        raise ValidationFailed(
            "Each request may appear in one pair only.", code="duplicate_request_in_pairs"
        )
    # Request id order, and volunteers locked up front in id order: two applies (and a
    # volunteer's own claims) take their locks in one order, so they queue, never deadlock.
    pairs = sorted(pairs)
    requests = _requests_in_area(area, request_ids)
    volunteer_ids = sorted({volunteer_id for _, volunteer_id in pairs})
    users = {
        u.id: u
        for u in db.session.execute(select(User).where(User.id.in_(volunteer_ids))).scalars()
    }
    profiles = {
        p.user_id: p
        for p in db.session.execute(
            select(Volunteer)
            .where(Volunteer.user_id.in_(volunteer_ids))
            .order_by(Volunteer.user_id)
            .with_for_update(of=Volunteer)
        ).scalars()
    }
    applied, skipped, settled = [], [], set()
    for request_id, volunteer_id in pairs:
        target = requests.get(request_id)
        reason, distance = _misfit(target, users.get(volunteer_id), profiles.get(volunteer_id))
        claimed = None
        if reason is None:
            if volunteer_id not in settled:
                _settle_lapsed_claims(volunteer_id)
                settled.add(volunteer_id)
            claimed, reason = _claim(request_id, users[volunteer_id], user)
        if reason is not None:
            skipped.append(
                {"request_id": request_id, "volunteer_id": volunteer_id, "reason": reason}
            )
            continue
        # What the volunteer's inbox shows, as for pushed needs: public fields only.
        notify(
            volunteer_id,
            "assigned",
            request_id,
            {
                **public_payload(claimed, distance),
                "lease_ends_at": clock.isoformat(claimed.lease_expires_at),
            },
        )
        applied.append(
            {"request_id": request_id, "volunteer_id": volunteer_id, "distance_m": round(distance)}
        )
    db.session.flush()
    return {"applied": applied, "skipped": skipped}


def _requests_in_area(area, request_ids):
    """{id: what the checks need} of those requests placed in the area (any status)."""
    r = HelpRequest
    rows = db.session.execute(
        select(r.id, func.ST_Y(r.location), func.ST_X(r.location), r.categories, r.requester_id)
        .join(RequestArea, and_(RequestArea.request_id == r.id, RequestArea.area_id == area.id))
        .where(r.id.in_(request_ids))
    ).all()
    return {
        row[0]: {"point": (row[1], row[2]), "categories": row[3], "requester_id": row[4]}
        for row in rows
    }


def _misfit(target, volunteer, profile):
    """(why this pair cannot be, None if it can; the distance in metres)."""
    # A request elsewhere or unknown: the same answer, so ids outside one's area tell nothing.
    if target is None:
        return NOT_IN_AREA, None
    if volunteer is None or profile is None:
        return NOT_A_VOLUNTEER, None
    if volunteer.disabled_at is not None or not profile.on_duty:
        return VOLUNTEER_UNAVAILABLE, None
    if target["requester_id"] == volunteer.id:
        return OWN_REQUEST, None
    distance = haversine_m(*latlon(profile.location), *target["point"])
    # The solver's chord distances and haversine agree to ~1e-9 m: a pair the preview put
    # exactly at the radius must not fail here on rounding.
    if distance > profile.radius_m + 1e-6:
        return OUT_OF_RANGE, distance
    wanted = set(target["categories"] or ())
    if wanted and not wanted & set(profile.categories or ()):
        return CATEGORY_MISMATCH, distance
    return None, distance


def _settle_lapsed_claims(volunteer_id):
    """Persist this volunteer's lapsed leases, so claim_request counts live claims only."""
    now = clock.now()
    lapsed = (
        db.session.execute(
            select(HelpRequest.id).where(
                HelpRequest.claimed_by_id == volunteer_id, HelpRequest.lease_lapsed(now)
            )
        )
        .scalars()
        .all()
    )
    for request_id in lapsed:
        apply_timeouts(request_id, now)


def _claim(request_id, volunteer, coordinator):
    """(the claimed request, None), or (None, why not); a refusal undoes only itself."""
    try:
        with db.session.begin_nested():
            return request_services.claim_request(
                request_id, volunteer, assigned_by=coordinator
            ), None
    except ClaimConflict:
        holder = db.session.execute(
            select(HelpRequest.claimed_by_id).where(
                HelpRequest.id == request_id, HelpRequest.status == "claimed"
            )
        ).scalar()
        return None, ALREADY_ASSIGNED if holder == volunteer.id else REQUEST_NOT_OPEN
    except (CapacityReached, NewVolunteerLimit):
        return None, NO_CAPACITY
    except NotAVolunteer:
        return None, NOT_A_VOLUNTEER
    except NotFound:
        return None, NOT_IN_AREA
