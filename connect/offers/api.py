"""Offer endpoints: post, nearby, map, view, change, close, ask for help, report."""

import orjson
from flask import Response, jsonify, url_for
from flask_smorest import Blueprint

from connect.accounts.auth import current_user
from connect.errors import NotFound
from connect.offers import queries, services
from connect.offers.schemas import (
    OfferCloseSchema,
    OfferCreateSchema,
    OfferEditSchema,
    OfferMapListSchema,
    OfferMapQuerySchema,
    OfferNearbyListSchema,
    OfferNearbyQuerySchema,
    OfferSchema,
    dump_offer,
)
from connect.requests import privacy
from connect.requests.phones import DuplicateRequest
from connect.requests.privacy import Viewer
from connect.requests.schemas import RequestCreateSchema, RequestSchema
from connect.requests.schemas import answer as request_answer
from connect.safety import reports
from connect.safety.report_schemas import ReportCreateSchema, ReportSchema
from connect.web import ratelimits
from connect.web.access import require_user
from connect.web.identity import manage_token

bp = Blueprint(
    "offers",
    __name__,
    url_prefix="/api/v1/offers",
    description="Offers of help (Tôi muốn giúp đỡ): what helpers, groups and shops "
    "can give, and residents asking them",
)

OFFER_ID = "<int(max=2147483647):offer_id>"
MANAGERS = (
    "its offerer, coordinators of an area its exact point lies in, and admins "
    "(Authorization: Bearer); 401 without a token, 403 `not_offerer` for anyone else"
)


def _answer(offer, user, status=200):
    """The offer as JSON in the view privacy.view_for gives this caller; OfferSchema
    documents it."""
    offer.effective_status = queries.effective_status(offer)
    return jsonify(dump_offer(offer, privacy.view_for(offer, Viewer(user)))), status


def _visible(offer_id, user):
    """The offer; 404 when moderation hid it and the caller may not see hidden ones."""
    offer = queries.get_offer(offer_id)
    if offer.status == "hidden" and not privacy.may_see_contact(offer, Viewer(user)):
        raise NotFound("No offer with this id.")
    return offer


@bp.route("", methods=["POST"])
@ratelimits.offers_per_account
@bp.doc(
    description=(
        "Needs an account (Authorization: Bearer); posting an offer makes a resident account a "
        "helper (role `volunteer`). `contact_name` and `phone` default to the account's. The "
        "public sees a blurred point 150-400 m off and never the name, phone or address. "
        "Requests asked of the offer are claimed by this account. Errors: 401 without a token, "
        "422 for bad fields (`available_until` in the past or more than 90 days ahead), 429 "
        "past `RATELIMIT_OFFERS_PER_ACCOUNT`."
    )
)
@bp.arguments(OfferCreateSchema)
@bp.response(201, OfferSchema)
def post_offer(args):
    """Offer help: what you have, how much, where, until when."""
    user = require_user()
    return _answer(services.post_offer(user, args), user, 201)


@bp.route("/nearby", methods=["GET"])
@bp.arguments(OfferNearbyQuerySchema, location="query")
@bp.response(200, OfferNearbyListSchema)
def nearby(args):
    """Open offers near a point, nearest first (true great-circle distance): public fields."""
    items = queries.nearby_offers(
        args["lat"], args["lon"], args["radius_m"], args["limit"], args["categories"]
    )
    return Response(orjson.dumps({"items": items}), status=200, mimetype="application/json")


@bp.route("/map", methods=["GET"])
@bp.arguments(OfferMapQuerySchema, location="query")
@bp.response(200, OfferMapListSchema)
def map_dots(args):
    """Open offers in a box, for the map's blue dots: blurred points only, newest first."""
    items = queries.map_offers(args["bbox"], args["limit"])
    return Response(orjson.dumps({"items": items}), status=200, mimetype="application/json")


@bp.route(f"/{OFFER_ID}", methods=["GET"])
@bp.doc(
    description="Public fields for anyone; the contact details for its offerer, "
    "coordinators of an area its exact point lies in, and admins. A hidden "
    "offer is 404 to everyone else."
)
@bp.response(200, OfferSchema)
def get_offer(offer_id):
    """An offer of help."""
    user = current_user()
    return _answer(_visible(offer_id, user), user)


@bp.route(f"/{OFFER_ID}", methods=["PATCH"])
@bp.doc(
    description="Send only the fields to change. For " + MANAGERS + "; 409 "
    "`offer_closed` unless the offer is open."
)
@bp.arguments(OfferEditSchema)
@bp.response(200, OfferSchema)
def edit(args, offer_id):
    """Change an open offer."""
    user = require_user()
    return _answer(services.edit_offer(offer_id, args, user), user)


@bp.route(f"/{OFFER_ID}/close", methods=["POST"])
@bp.doc(
    description="Open → closed: it leaves the nearby list and the map; requests already "
    "asked of it stay with the offerer. For " + MANAGERS + "; 409 "
    "`offer_closed` unless the offer is open."
)
@bp.arguments(OfferCloseSchema, required=False)
@bp.response(200, OfferSchema)
def close(args, offer_id):
    """Withdraw an offer."""
    user = require_user()
    return _answer(services.close_offer(offer_id, user), user)


@bp.route(f"/{OFFER_ID}/ask", methods=["POST"])
@ratelimits.post_per_ip
@ratelimits.post_per_phone
@bp.doc(
    description=(
        "No account needed; the same body as `POST /api/v1/requests`, and the same rules (one "
        "open or claimed request per phone: 409 `duplicate_request`). The request is posted "
        "and at once claimed by the offer's owner (with the usual lease; their capacity does "
        "not limit offers), who is notified (`assigned`). Keep the returned `manage_token`: "
        "it works exactly like one from posting a request. Errors: 404 unknown or hidden offer, "
        "409 `offer_closed` for a closed or expired offer, 403 `own_offer` for its offerer, "
        "422 bad fields, 429 past the request-posting limits."
    )
)
@bp.arguments(RequestCreateSchema)
@bp.response(201, RequestSchema)
def ask(args, offer_id):
    """Ask this offer for help: a request already matched to its offerer."""
    user = current_user()
    _visible(offer_id, user)
    try:
        help_request, token = services.ask_offer(
            offer_id, args, requester=user, manage_tokens=(manage_token(),)
        )
    except DuplicateRequest as exc:
        if exc.owner_token:
            exc.details["manage_url"] = url_for(
                "resident.manage", token=exc.owner_token, _external=True
            )
        raise
    return request_answer(help_request, Viewer(user, token), 201, manage_token=token)


@bp.route(f"/{OFFER_ID}/report", methods=["POST"])
@ratelimits.reports_per_account
@bp.doc(
    description=(
        "Báo xấu. Needs an account (any role), each counted once. Once "
        "`REPORT_HIDE_THRESHOLD` (3) different accounts have unresolved reports on an open "
        "offer, it is hidden. Errors: 401 without a token; 404 unknown (or hidden, to others) "
        "offer; 403 `own_subject` for your own offer; 409 `already_reported`; 409 "
        "`offer_closed` for a closed or expired offer; 422 bad reason or comment."
    )
)
@bp.arguments(ReportCreateSchema)
@bp.response(201, ReportSchema)
def report(args, offer_id):
    """Report an offer as a joke, advertising, a scam, false, or something else."""
    user = require_user()
    _visible(offer_id, user)
    return reports.report("offer", offer_id, user, args["reason"], args["comment"])
