"""Coordinators: a request's history, suitable volunteers and assignment."""

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from connect.clock import isoformat
from connect.coordination.request_page import assign
from connect.requests.privacy import Viewer
from connect.requests.schemas import RequestSchema, answer
from connect.validation import Text
from connect.web.access import require_user
from connect.web.idempotency import idempotent

bp = Blueprint(
    "console_requests",
    __name__,
    url_prefix="/api/v1",
    description="Coordinators: a request's history, suitable volunteers and assignment",
)

REQUEST_ID = "<int(max=2147483647):request_id>"
WHO = (
    "Coordinators of the request's area and admins (Authorization: Bearer, or the console's "
    "session). 401 without one; 403 `not_coordinator` for anyone else, a coordinator of "
    "another area included; 404 for an unknown request."
)
MAX_CANDIDATES = 50


class EventSchema(Schema):
    id = fields.Integer()
    from_status = fields.String(allow_none=True, metadata={"description": "None when posted."})
    to_status = fields.String()
    actor_kind = fields.String(
        metadata={"description": "requester, volunteer, coordinator, admin or system."}
    )
    actor_id = fields.Integer(allow_none=True, metadata={"description": "A user id, if any."})
    actor_name = fields.String(
        allow_none=True,
        metadata={
            "description": "The display name of a volunteer, coordinator or admin who acted; "
            "None for the requester and the system."
        },
    )
    reason = fields.String(allow_none=True)
    created_at = fields.Function(lambda event: isoformat(event["created_at"]))


class EventListSchema(Schema):
    items = fields.List(fields.Nested(EventSchema), metadata={"description": "Oldest first."})


class CandidateQuerySchema(Schema):
    limit = fields.Integer(load_default=10, validate=validate.Range(1, MAX_CANDIDATES))


class CandidateSchema(Schema):
    volunteer_id = fields.Integer(metadata={"description": "The volunteer's user id."})
    name = fields.String()
    phone = fields.String()
    distance_m = fields.Integer(
        metadata={
            "description": "Great-circle metres from the volunteer to the request's exact point."
        }
    )
    radius_m = fields.Integer(metadata={"description": "How far the volunteer goes."})
    categories = fields.List(fields.String(), metadata={"description": "What they bring."})
    capacity = fields.Integer(metadata={"description": "Claims they said they can hold."})
    active_claims = fields.Integer(metadata={"description": "Claims they hold now."})
    free = fields.Integer(
        metadata={
            "description": "Claims they may still take (one at a time until they have helped "
            "once)."
        }
    )
    matching_categories = fields.List(
        fields.String(), metadata={"description": "The request's categories they bring."}
    )


class CandidateListSchema(Schema):
    assignable = fields.Boolean(
        metadata={"description": "Whether the request is open now; when not, items is empty."}
    )
    items = fields.List(fields.Nested(CandidateSchema), metadata={"description": "Nearest first."})


class AssignSchema(Schema):
    volunteer_id = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(1, 2**31 - 1),
        metadata={"description": "The volunteer's user id."},
    )
    reason = Text(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=200),
        metadata={
            "description": "Optional note for the request's history (kept "
            "after 'assigned by coordinator: ', to 200 "
            "characters in all)."
        },
    )


@bp.route(f"/requests/{REQUEST_ID}/events", methods=["GET"])
@bp.doc(description="Who moved the request from which status to which, when and why. " + WHO)
@bp.response(200, EventListSchema)
def request_events(request_id):
    """A request's event history (coordinators)."""
    assign.load_request(request_id, require_user())
    return {"items": assign.request_events(request_id)}


@bp.route(f"/requests/{REQUEST_ID}/candidates", methods=["GET"])
@bp.doc(
    description=(
        "On-duty volunteers (not disabled, not the requester) whose radius reaches the request's "
        "exact point, who bring at least one of its categories and have a free claim, nearest "
        "first; those one can assign. A request that is not open now answers `assignable` "
        "false and no items. Names and phones are for coordinators. " + WHO
    )
)
@bp.arguments(CandidateQuerySchema, location="query")
@bp.response(200, CandidateListSchema)
def candidates(args, request_id):
    """The nearest suitable volunteers for a request (coordinators)."""
    help_request = assign.load_request(request_id, require_user())
    assignable, items = assign.suitable_volunteers(help_request, args["limit"])
    return {"assignable": assignable, "items": items}


@bp.route(f"/requests/{REQUEST_ID}/assign", methods=["POST"])
@idempotent
@bp.doc(
    description=(
        "Claims the open request for the volunteer, as if they had claimed it (their claim, the "
        "normal lease), records the event with you as the actor ('assigned by coordinator') and "
        "tells the volunteer in their inbox. Answers the request as coordinators see it (contact "
        "details included; the view is logged). 409 `claim_conflict` when it is not open (claimed "
        "meanwhile: of concurrent assignments exactly one wins); 409 `not_suitable` when the "
        "volunteer cannot take it now (`details.reason`: volunteer_unavailable, own_request, "
        "out_of_range, category_mismatch or no_capacity); 422 `unknown_volunteer` for an id that "
        "is no volunteer. " + WHO
    )
)
@bp.arguments(AssignSchema)
@bp.response(200, RequestSchema)
def assign_request(args, request_id):
    """Give a request to a volunteer (coordinators)."""
    user = require_user()
    help_request = assign.assign_volunteer(request_id, args["volunteer_id"], user, args["reason"])
    return answer(help_request, Viewer(user))
