"""One request, by hand: its history, the nearest suitable on-duty volunteers, and the claim a
coordinator makes on a volunteer's behalf.

"Suitable" is batch assignment's rule for one pair (``connect.matching.batch``): on duty and
not disabled, not the requester, the request's exact point within their radius (great-circle),
a category in common, and a free claim (capacity less live claims; one at a time until they
have helped once). A volunteer the list shows can be assigned, unless something changed since.
"""

import math

from sqlalchemy import func, select

from connect import clock
from connect.accounts.models import MAX_RADIUS_M, User, Volunteer
from connect.errors import ClaimConflict, Conflict, NotFound, ValidationFailed
from connect.extensions import db
from connect.geo import EARTH_RADIUS_M, bbox_for_radius
from connect.matching import batch
from connect.matching.push import public_payload
from connect.notifications.delivery import notify
from connect.requests import services as request_services
from connect.requests.categories import CATEGORIES
from connect.requests.models import HelpRequest, RequestEvent
from connect.requests.queries import effective_status, get_request
from connect.requests.timeouts import apply_timeouts
from connect.safety.moderation import require_moderator
from connect.spatial import filter_in_box, latlon

ASSIGNED = "assigned by coordinator"  # the reason claim_request records for an assignment
NOT_SUITABLE_REASONS = (
    batch.VOLUNTEER_UNAVAILABLE,
    batch.OWN_REQUEST,
    batch.OUT_OF_RANGE,
    batch.CATEGORY_MISMATCH,
    batch.NO_CAPACITY,
)
# Whose names the history shows: people acting in their role, never the requester's account.
_NAMED_KINDS = ("volunteer", "coordinator", "admin")
_REASON_LENGTH = 200
_DEGREES_PER_M = math.degrees(1 / EARTH_RADIUS_M)


# -- history ----------------------------------------------------------------------------------


def request_events(request_id):
    """Every recorded transition of a request, the oldest first, with who acted."""
    rows = db.session.execute(
        select(RequestEvent, User.name)
        .outerjoin(User, User.id == RequestEvent.actor_id)
        .where(RequestEvent.request_id == request_id)
        .order_by(RequestEvent.created_at, RequestEvent.id)
    ).all()
    return [
        {
            "id": event.id,
            "from_status": event.from_status,
            "to_status": event.to_status,
            "actor_kind": event.actor_kind,
            "actor_id": event.actor_id,
            "actor_name": name if event.actor_kind in _NAMED_KINDS else None,
            "reason": event.reason,
            "created_at": event.created_at,
        }
        for event, name in rows
    ]


# -- candidates -------------------------------------------------------------------------------


def _target(help_request):
    """What batch._misfit checks of a request (the phone too: a caller's own account)."""
    return {
        "point": latlon(help_request.location),
        "categories": help_request.categories,
        "requester_id": help_request.requester_id,
        "phone": help_request.phone,
    }


def _misfit(target, user, profile):
    """(why this volunteer cannot take the request, or None; the distance in metres)."""
    reason, distance = batch._misfit(target, user, profile)
    # A request entered for a caller whose phone is this volunteer's account is their own.
    if reason is None and user.phone == target["phone"]:
        return batch.OWN_REQUEST, distance
    return reason, distance


def _within_reach(target, box):
    """On-duty, enabled volunteers in the box whose radius may reach the point (SQL side)."""
    lat = target["point"][0]
    v_lat = func.ST_Y(Volunteer.location)
    query = (
        select(Volunteer, User)
        .join(User, User.id == Volunteer.user_id)
        .where(
            Volunteer.on_duty.is_(True),
            User.disabled_at.is_(None),
            # Latitude alone bounds each volunteer's own radius cheaply (1 % slack);
            # the exact great-circle distance decides afterwards.
            func.abs(v_lat - lat) <= Volunteer.radius_m * (_DEGREES_PER_M * 1.01),
        )
    )
    if target["requester_id"]:
        query = query.where(Volunteer.user_id != target["requester_id"])
    return filter_in_box(query, Volunteer, "location", box, db.session.get_bind().dialect.name)


def _live_claims(user_ids, now):
    """{user id: claims they hold now} (a lapsed lease is not held)."""
    if not user_ids:
        return {}
    return dict(
        db.session.execute(
            select(HelpRequest.claimed_by_id, func.count())
            .where(HelpRequest.is_claimed_at(now), HelpRequest.claimed_by_id.in_(user_ids))
            .group_by(HelpRequest.claimed_by_id)
        ).all()
    )


def suitable_volunteers(help_request, limit, now=None):
    """(assignable, the nearest suitable volunteers, nearest first); none unless it is open."""
    now = now or clock.now()
    if effective_status(help_request, now) != "open":
        return False, []
    target = _target(help_request)
    found = {}
    # Radii differ per volunteer: the box of the largest radius holds everyone who could
    # reach the request (through the spatial index); the exact distance then decides.
    for box in bbox_for_radius(*target["point"], MAX_RADIUS_M):
        for profile, user in db.session.execute(_within_reach(target, box)).all():
            reason, distance = _misfit(target, user, profile)
            if reason is None:
                found[user.id] = (profile, user, distance)
    ids = sorted(found)
    free = dict(
        zip(
            ids,
            batch._free_capacity(
                ids,
                [found[i][0].capacity for i in ids],
                select(Volunteer.user_id).where(Volunteer.user_id.in_(ids)),
                now,
            ),
        )
    )
    live = _live_claims(ids, now)
    ranked = sorted((i for i in ids if free[i] > 0), key=lambda i: (found[i][2], i))[:limit]
    wanted = set(help_request.categories or ())
    return True, [_candidate(*found[i], live.get(i, 0), free[i], wanted) for i in ranked]


def _candidate(profile, user, distance, active, free, wanted):
    return {
        "volunteer_id": user.id,
        "name": user.name,
        "phone": user.phone,
        "distance_m": round(distance),
        "radius_m": profile.radius_m,
        "categories": list(profile.categories or ()),
        "capacity": profile.capacity,
        "active_claims": active,
        "free": free,
        "matching_categories": [
            name for name in CATEGORIES if name in wanted and name in (profile.categories or ())
        ],
    }


# -- assignment -------------------------------------------------------------------------------


class NotSuitable(Conflict):
    """The volunteer cannot take this request now (details: reason, as batch assignment's)."""

    code, message = "not_suitable", "This volunteer cannot take this request now."


class UnknownVolunteer(ValidationFailed):
    code, message = "unknown_volunteer", "No volunteer with this id."


def _not_suitable(reason, distance=None):
    details = {"reason": reason}
    if distance is not None:
        details["distance_m"] = round(distance)
    return NotSuitable(details=details)


def _unknown_volunteer():
    return UnknownVolunteer(details={"fields": {"volunteer_id": [UnknownVolunteer.message]}})


def assign_volunteer(request_id, volunteer_id, coordinator, reason=None):
    """Claim an open request for this volunteer (the normal lease), tell them; the event
    names the coordinator. 409 claim_conflict / not_suitable, 422 unknown_volunteer."""
    require_moderator(coordinator, request_id)
    user = db.session.get(User, volunteer_id)
    # Locked before the request, as batch apply and claim_request do: the capacity counted
    # holds until commit, and two assignments queue rather than deadlock.
    profile = db.session.execute(
        select(Volunteer).where(Volunteer.user_id == volunteer_id).with_for_update(of=Volunteer)
    ).scalar_one_or_none()
    if user is None or profile is None:
        raise _unknown_volunteer()
    apply_timeouts(request_id)
    help_request = request_services.reloaded(request_id)
    status = effective_status(help_request)
    if status != "open":
        raise ClaimConflict(details={"status": status})
    why, distance = _misfit(_target(help_request), user, profile)
    if why is not None:
        raise _not_suitable(why, distance)
    batch._settle_lapsed_claims(volunteer_id)
    claimed, why = batch._claim(request_id, user, coordinator)
    if why in (batch.ALREADY_ASSIGNED, batch.REQUEST_NOT_OPEN):
        raise ClaimConflict()
    if why == batch.NO_CAPACITY:
        raise _not_suitable(why, distance)
    if why == batch.NOT_A_VOLUNTEER:
        raise _unknown_volunteer()
    if why is not None:  # NOT_IN_AREA: the request went away meanwhile
        raise NotFound("No help request with this id.")
    if reason:
        _note_reason(request_id, reason)
    # What the volunteer's inbox shows, as for batch apply: public fields only.
    notify(
        volunteer_id,
        "assigned",
        request_id,
        {
            **public_payload(claimed, distance),
            "lease_ends_at": clock.isoformat(claimed.lease_expires_at),
        },
    )
    return claimed


def _note_reason(request_id, reason):
    """Add the coordinator's words to the assignment event claim_request just recorded."""
    event = db.session.execute(
        select(RequestEvent)
        .where(RequestEvent.request_id == request_id, RequestEvent.to_status == "claimed")
        .order_by(RequestEvent.id.desc())
        .limit(1)
    ).scalar_one()
    event.reason = f"{ASSIGNED}: {reason}"[:_REASON_LENGTH]
    db.session.flush()


def load_request(request_id, user):
    """The request, for a coordinator of it (404 unknown, 403 not_coordinator)."""
    require_moderator(user, request_id)
    return get_request(request_id)
