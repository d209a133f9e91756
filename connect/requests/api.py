"""Help request endpoints: post, nearby, view, and the claim lifecycle."""

import orjson
from flask import Response, current_app, request, url_for
from flask_smorest import Blueprint

from connect.accounts.auth import current_user
from connect.errors import Forbidden, NotFound, Unauthorized
from connect.extensions import limiter
from connect.requests import editing, privacy, queries, services
from connect.requests.phones import DuplicateRequest
from connect.requests.privacy import Viewer
from connect.requests.schemas import (
    CancelSchema,
    MapListSchema,
    MapQuerySchema,
    NearbyListSchema,
    NearbyQuerySchema,
    RequestCreateSchema,
    RequestEditSchema,
    RequestSchema,
    RevealListSchema,
    RevealQuerySchema,
    answer,
)
from connect.web import ratelimits
from connect.web.access import require_user
from connect.web.idempotency import idempotent
from connect.web.identity import manage_token

bp = Blueprint("requests", __name__, url_prefix="/api/v1/requests", description="Help requests")


@bp.route("", methods=["POST"])
@idempotent
@ratelimits.post_per_ip
@ratelimits.post_per_phone
@bp.doc(
    description=(
        "One open or claimed request per phone number: another post with the phone answers 409 "
        "`duplicate_request` (update that request instead). Its `details` name the existing "
        "`request_id` (and `manage_url`) only to a caller who proves to own it with its "
        "X-Manage-Token or the account that posted it."
    )
)
@bp.arguments(RequestCreateSchema)
@bp.response(201, RequestSchema)
def post_request(args):
    """Ask for help. No account needed; keep the returned manage_token."""
    token = manage_token()
    try:
        help_request, token = services.post_request(
            args, requester=current_user(), manage_tokens=(token,)
        )
    except DuplicateRequest as exc:
        if exc.owner_token:
            exc.details["manage_url"] = url_for(
                "resident.manage", token=exc.owner_token, _external=True
            )
        raise
    return answer(help_request, Viewer(current_user(), token), 201, manage_token=token)


@limiter.request_filter
def _nearby_is_never_limited():
    """The nearby list has no rate limit (a read from memory): flask-limiter need not work
    that out again on every call (~20 us of a ~700 us list, in process)."""
    return request.endpoint == "requests.nearby"


# One schema instance, not a new one per call: building one costs more than parsing with it.
@bp.route("/nearby", methods=["GET"])
@bp.arguments(NearbyQuerySchema(), location="query")
@bp.response(200, NearbyListSchema)
def nearby(args):
    """Open requests near a point (true great-circle distance): by fair rank, so needs that
    are urgent or have waited long come before fresh ones a little nearer, or nearest first
    with sort=distance."""
    read_model = current_app.extensions["read_model"]
    # Serialisation decides this endpoint's throughput: the items are pre-encoded JSON.
    body = read_model.nearby_json(
        args["lat"], args["lon"], args["radius_m"], args["limit"], args["categories"], args["sort"]
    )
    return Response(body, status=200, mimetype="application/json")


@bp.route("/map", methods=["GET"])
@bp.arguments(MapQuerySchema, location="query")
@bp.response(200, MapListSchema)
def map_dots(args):
    """Open requests, and those helped in the last 7 days, in a box: blurred points only."""
    items = queries.map_requests(args["bbox"], args["limit"])
    return Response(orjson.dumps({"items": items}), status=200, mimetype="application/json")


@bp.route("/<int(max=2147483647):request_id>", methods=["GET"])
@bp.response(200, RequestSchema)
def get_request(request_id):
    """A request: public fields for anyone, contact details for those allowed. A hidden
    request is 404 to all but its requester and coordinators."""
    user, token = current_user(), manage_token()
    help_request = queries.get_request(request_id)
    viewer = Viewer(user, token)
    if help_request.status == "hidden" and not privacy.may_see_contact(help_request, viewer):
        # Moderated out of every list: not findable by counting ids either.
        raise NotFound("No help request with this id.")
    return answer(help_request, viewer)


@bp.route("/<int(max=2147483647):request_id>/claim", methods=["POST"])
@idempotent
@ratelimits.claims_per_volunteer
@bp.response(200, RequestSchema)
def claim(request_id):
    """Claim an open request (volunteers): you get the contact details and a lease."""
    user = require_user()
    return answer(services.claim_request(request_id, user), Viewer(user))


@bp.route("/<int(max=2147483647):request_id>/release", methods=["POST"])
@idempotent
@bp.response(200, RequestSchema)
def release(request_id):
    """Give a claimed request back to the open list."""
    user = require_user()
    return answer(services.release_request(request_id, user), Viewer(user))


@bp.route("/<int(max=2147483647):request_id>/helped", methods=["POST"])
@idempotent
@bp.response(200, RequestSchema)
def helped(request_id):
    """Mark the need met (the volunteer holding the claim)."""
    user = require_user()
    return answer(services.mark_helped(request_id, user), Viewer(user))


@bp.route("/<int(max=2147483647):request_id>/confirm", methods=["POST"])
@idempotent
@bp.response(200, RequestSchema)
def confirm(request_id):
    """Confirm you were helped (the requester: X-Manage-Token or own account)."""
    user, token = current_user(), manage_token()
    return answer(services.confirm_helped(request_id, user, token), Viewer(user, token))


@bp.route("/<int(max=2147483647):request_id>/cancel", methods=["POST"])
@bp.arguments(CancelSchema, required=False)
@bp.response(200, RequestSchema)
def cancel(args, request_id):
    """Withdraw a request (the requester or a coordinator)."""
    user, token = current_user(), manage_token()
    return answer(
        services.cancel_request(request_id, user, token, (args or {}).get("reason")),
        Viewer(user, token),
    )


@bp.route("/<int(max=2147483647):request_id>/manage-token", methods=["POST"])
@ratelimits.new_links_per_ip
@bp.response(200, RequestSchema)
def new_manage_token(request_id):
    """Get a new manage_token (the requester); the old one stops working at once."""
    user, token = current_user(), manage_token()
    help_request, new_token = editing.new_manage_link(request_id, user, token)
    return answer(help_request, Viewer(user, new_token), manage_token=new_token)


@bp.route("/<int(max=2147483647):request_id>", methods=["PATCH"])
@ratelimits.edits_per_ip
@bp.arguments(RequestEditSchema)
@bp.response(200, RequestSchema)
def edit(args, request_id):
    """Change an open or claimed request (the requester or a coordinator); send only the
    fields to change. A closed request answers 409."""
    user, token = current_user(), manage_token()
    return answer(editing.edit_request(request_id, args, user, token), Viewer(user, token))


@bp.route("/<int(max=2147483647):request_id>/reveals", methods=["GET"])
@bp.arguments(RevealQuerySchema, location="query")
@bp.response(200, RevealListSchema)
def contact_reveals(args, request_id):
    """Who was shown this request's contact details, and when: for the requester
    (X-Manage-Token or own account) and the coordinators of its area."""
    user, token = current_user(), manage_token()
    help_request = queries.get_request(request_id)
    if not privacy.may_read_log(help_request, user, token):
        if user is None and token is None:
            raise Unauthorized()
        raise Forbidden(
            "Only the person who posted the request and its coordinators see "
            "who was shown the contact details."
        )
    return {"items": privacy.reveals_of(request_id, args["limit"])}
