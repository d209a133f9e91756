"""Requests placed only by their commune (texted in from feature phones): the queue of those a
coordinator should place exactly, and placing one."""

from sqlalchemy import select

from connect import clock
from connect.areas.models import Area, RequestArea
from connect.areas.names import short_name
from connect.coordination.filters import scope_condition
from connect.extensions import db
from connect.requests.editing import edit_request
from connect.requests.models import HelpRequest
from connect.requests.state import ACTIVE

QUEUE_LIMIT = 200


def requests_to_place(user, limit=QUEUE_LIMIT, now=None):
    """Open or claimed requests at their commune's point in the caller's areas, the longest
    waiting first, as (request, the short name of the commune it stands in)."""
    now = now or clock.now()
    r = HelpRequest
    conditions = [r.location_precision == "area", r.status_at(now).in_(ACTIVE)]
    scope = scope_condition(user)
    if scope is not None:
        conditions.append(scope)
    found = (
        db.session.execute(select(r).where(*conditions).order_by(r.created_at, r.id).limit(limit))
        .scalars()
        .all()
    )
    communes = dict(
        db.session.execute(
            select(RequestArea.request_id, Area.name)
            .join(Area, Area.id == RequestArea.area_id)
            .where(
                RequestArea.request_id.in_([item.id for item in found]), Area.level == "commune"
            )
        ).all()
    )
    return [(item, short_name(communes.get(item.id, "")) or None) for item in found]


def place_exactly(request_id, lat, lon, user):
    """A coordinator sets the request's exact point (after calling the requester): from now
    on it is blurred like any other, and no longer approximate."""
    return edit_request(request_id, {"location": {"lat": lat, "lon": lon}}, user, placed=True)
