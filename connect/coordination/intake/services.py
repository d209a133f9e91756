"""Hotline intake: a coordinator posts a request for a caller, warned of duplicates first."""

from sqlalchemy import func, select

from connect import clock
from connect.areas.services import area_index, coordinator_area_ids
from connect.clock import isoformat
from connect.coordination.filters import require_coordinator
from connect.errors import Conflict, Forbidden
from connect.extensions import db
from connect.geo import bbox_for_radius, haversine_m
from connect.requests import phones, services
from connect.requests.categories import CATEGORIES
from connect.requests.models import HelpRequest
from connect.requests.state import ACTIVE
from connect.safety import duplicates
from connect.spatial import filter_in_box

SOURCE = "hotline"
# Enough for the operator to recognise the household; a crowded block must not flood them.
MAX_NEARBY = 10


class PossibleDuplicate(Conflict):
    """A look-alike (shared category, within 100 m, last 48 h) is open or claimed."""

    code = "possible_duplicate"
    message = (
        "A request of the same kind was posted within 100 m in the last 48 hours. "
        "Check that it is not this caller's; send confirm_duplicate true to post anyway."
    )


class OutsideYourAreas(Forbidden):
    """The call's place lies outside every area the coordinator was granted."""

    code = "outside_your_areas"
    message = (
        "This place is outside the areas you coordinate. Ask a coordinator of that "
        "area to enter the call."
    )


def require_area_for(user, lat, lon):
    """403 `outside_your_areas` unless the point lies in one of the coordinator's areas."""
    if user.role == "admin":
        return
    inside = {int(area_id) for area_id in area_index().containing(lat, lon)}
    if not inside & set(coordinator_area_ids(user.id)):
        raise OutsideYourAreas()


def check_phone(user, phone):
    """The intake page's early check: PhoneBlocked for a phone blocked by moderation,
    DuplicateRequest (naming the request to its coordinators) for one with an open or
    claimed request."""
    require_coordinator(user)
    phones.check_phone_allowed(phone)
    phones.check_phone_free(phone, user)


def lookalikes(categories, lat, lon, now=None):
    """Open or claimed requests (any phone) sharing a category within 100 m, posted in the
    last 48 h: [{id, distance_m, categories, status, created_at}], nearest first."""
    now = now or clock.now()
    wanted = set(categories)
    status = HelpRequest.status_at(now)
    r = HelpRequest
    found = {}
    for box in bbox_for_radius(lat, lon, duplicates.LOOKALIKE_RADIUS_M):
        query = select(
            r.id, r.categories, func.ST_Y(r.location), func.ST_X(r.location), status, r.created_at
        ).where(
            r.created_at >= now - duplicates.LOOKALIKE_WINDOW,
            status.in_(ACTIVE),
            r.purged_at.is_(None),
        )
        query = filter_in_box(query, r, "location", box, db.session.get_bind().dialect.name)
        for row_id, row_categories, row_lat, row_lon, row_status, created in db.session.execute(
            query
        ):
            distance = haversine_m(lat, lon, row_lat, row_lon)
            if distance <= duplicates.LOOKALIKE_RADIUS_M and wanted & set(row_categories or ()):
                found[row_id] = {
                    "id": row_id,
                    "distance_m": round(distance),
                    "categories": [c for c in CATEGORIES if c in row_categories],
                    "status": row_status,
                    "created_at": isoformat(created),
                }
    return sorted(found.values(), key=lambda item: (item["distance_m"], item["id"]))[:MAX_NEARBY]


def enter_request(user, data, confirm_duplicate=False):
    """Post a caller's request as hotline, entered by this coordinator; returns it and its
    manage token. Refuses a point outside their areas, a phone with an open request, and
    (unless confirmed) a request that looks like one already nearby."""
    require_coordinator(user)
    lat, lon = data["location"]["lat"], data["location"]["lon"]
    require_area_for(user, lat, lon)
    # Both checked again inside post_request; first here, so that the operator is not asked
    # to confirm a look-alike (which would list the phone's own request too) in vain.
    phones.check_phone_allowed(data["phone"])
    phones.check_phone_free(data["phone"], user)
    if not confirm_duplicate:
        nearby = lookalikes(data["categories"], lat, lon)
        if nearby:
            raise PossibleDuplicate(details={"nearby": nearby})
    return services.post_request(data, source=SOURCE, entered_by=user)
