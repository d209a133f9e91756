"""The requester's changes to a request: edits, and a new manage link."""

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from connect import clock
from connect.accounts.models import hash_secret, new_secret
from connect.areas.services import may_coordinate, place_request
from connect.errors import Conflict, Forbidden
from connect.extensions import db
from connect.geo import haversine_m
from connect.requests import phones, signals
from connect.requests.blurring import public_point
from connect.requests.categories import CATEGORIES
from connect.requests.errors import InvalidTransition
from connect.requests.models import HelpRequest
from connect.requests.queries import get_request, is_requester
from connect.requests.services import prepared, reloaded
from connect.requests.state import ACTIVE, expiry_period
from connect.requests.timeouts import record_event, stamp
from connect.spatial import latlon, point


def new_manage_link(request_id, user, manage_token):
    """Replace the request's manage token (a link that leaked); the old one stops working."""
    help_request = get_request(request_id)
    if not is_requester(help_request, user, manage_token):
        raise Forbidden("Only the person who posted the request can get a new link.")
    return help_request, _replace_manage_token(help_request, user, "new manage link")


def resend_manage_link(phone):
    """A new manage link for the phone's open or claimed request, for someone who proved the
    phone with a code (the old link stops working): (request, token), or (None, None)."""
    help_request = phones.active_request_with_phone(phone)
    if help_request is None:
        return None, None
    return help_request, _replace_manage_token(
        help_request, None, "new manage link by a code texted to its phone"
    )


def _replace_manage_token(help_request, actor, reason):
    token = new_secret()
    help_request.manage_token_hash = hash_secret(token)
    help_request.updated_at = clock.now()
    record_event(
        help_request.id, help_request.status, help_request.status, actor, "requester", reason
    )
    db.session.flush()
    return token


EDITABLE_FIELDS = (
    "categories",
    "description",
    "household_size",
    "urgency",
    "contact_name",
    "phone",
    "address",
)
# A pin set again to where it was (re-sent form, rounding in a browser) is not a move.
_MOVE_THRESHOLD_M = 1.0


def edit_request(request_id, data, actor, manage_token=None, placed=False):
    """Change what an open or claimed request asks for, who to call, or where it is.

    ``data`` holds only the fields to change (RequestEditSchema). The requester (manage token
    or own account) or a coordinator may edit; a closed request cannot change (Conflict).
    A point moved to is exact (someone put the pin there); ``placed``: the caller says its
    location is the exact place, even where it already stands (a commune's point).
    """
    staff = may_coordinate(actor, request_id)
    if not (staff or is_requester(get_request(request_id), actor, manage_token)):
        raise Forbidden("Only the person who posted the request or a coordinator can change it.")
    help_request = prepared(request_id)
    status = help_request.status
    if status not in ACTIVE:
        raise Conflict(
            f"This request is {status}; it can no longer be changed.",
            code="request_closed",
            details={"status": status},
        )
    now = clock.now()
    moved_to = None
    values = {name: data[name] for name in EDITABLE_FIELDS if name in data}
    if "categories" in values:
        values["categories"] = [name for name in CATEGORIES if name in values["categories"]]
    if "address" in values:
        values["address"] = values["address"] or None
    if "location" in data:
        lat, lon = data["location"]["lat"], data["location"]["lon"]
        moved = haversine_m(*latlon(help_request.location), lat, lon) > _MOVE_THRESHOLD_M
        if moved or (placed and help_request.location_precision != "exact"):
            # Seeded by the new place's grid cell: a claimant who knew the old point and its
            # blur learns nothing about the new one from it.
            blurred = public_point(lat, lon, values.get("phone", help_request.phone), request_id)
            values.update(
                location=point(lat, lon),
                public_location=point(*blurred),
                location_precision="exact",
            )
            place_request(request_id, lat, lon)
            moved_to = (lat, lon)
    if status == "open":
        # A requester who edits still needs help: the request stays listed as long again.
        values["expires_at"] = now + expiry_period()
    moved_phone = values.get("phone") not in (None, help_request.phone)
    if moved_phone:
        phones.check_phone_allowed(values["phone"])
        phones.check_phone_free(values["phone"], actor, (manage_token,), request_id)
    try:
        with db.session.begin_nested():
            result = db.session.execute(
                update(HelpRequest)
                .where(HelpRequest.id == request_id, HelpRequest.status == status)
                .values(updated_at=now, last_activity_at=now, change_seq=stamp(), **values)
                .execution_options(synchronize_session=False)
            )
    except IntegrityError as exc:
        # Another request took this phone after the check above (see post_request).
        if not (moved_phone and phones.is_active_phone_clash(exc)):
            raise
        phones.raise_phone_clash(values["phone"], actor, (manage_token,), request_id)
    if result.rowcount != 1:
        raise InvalidTransition(
            "This request changed while you were editing it. Try again.",
            details={"status": status},
        )
    record_event(
        request_id, status, status, actor, actor.role if staff else "requester", "edited", at=now
    )
    db.session.flush()
    edited = reloaded(request_id)
    if moved_to is not None:
        signals.moved.send(edited, lat=moved_to[0], lon=moved_to[1])
    return edited
