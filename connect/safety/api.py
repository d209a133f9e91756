"""Report ("Báo xấu") and moderation endpoints."""

from flask_smorest import Blueprint

from connect.requests.queries import effective_status
from connect.safety import blocking, moderation, reports
from connect.safety.report_schemas import (
    BlockedPhonesSchema,
    BlockPhoneSchema,
    BlockSchema,
    FlagResolveSchema,
    LiftBlockSchema,
    ModeratedRequestSchema,
    ModerationActionSchema,
    QueueQuerySchema,
    QueueSchema,
    ReportCreateSchema,
    ReportSchema,
    ResolvedFlagSchema,
)
from connect.web import ratelimits
from connect.web.access import require_user

bp = Blueprint(
    "safety",
    __name__,
    url_prefix="/api/v1",
    description="Reports (Báo xấu) and coordinator moderation",
)

REQUEST_ID = "<int(max=2147483647):request_id>"
STAFF_ONLY = (
    "Coordinators of the request's area and admins (Authorization: Bearer). "
    "401 without a token; 403 `not_coordinator` for anyone else; 404 for an "
    "unknown request."
)


def _moderated(help_request):
    help_request.effective_status = effective_status(help_request)
    return help_request


@bp.route(f"/requests/{REQUEST_ID}/report", methods=["POST"])
@ratelimits.reports_per_account
@bp.doc(
    description=(
        "Needs an account (Authorization: Bearer; any role), so that each reporter counts once. "
        "Once `REPORT_HIDE_THRESHOLD` (default 3) different accounts have unresolved reports "
        "on an open or claimed request, it is hidden until a coordinator reviews it. Errors: "
        "401 without a token; 404 for an unknown request; 403 `own_subject` for your own "
        "request; 409 `already_reported` when this account reported it before (it is not "
        "counted again); 409 `request_closed` when it is closed (helped, confirmed, cancelled "
        "or expired); 422 for a bad reason or a comment over 300 characters."
    )
)
@bp.arguments(ReportCreateSchema)
@bp.response(201, ReportSchema)
def report_request(args, request_id):
    """Report a request as a joke, advertising, a scam, false, or something else."""
    user = require_user()
    return reports.report("request", request_id, user, args["reason"], args["comment"])


@bp.route("/moderation/queue", methods=["GET"])
@bp.doc(
    description=(
        "Requests in your areas (all for admins) that are open, claimed or hidden and have "
        "unresolved reports or unresolved flags: hidden ones pending review first, then the "
        "most reported, then the oldest. Counts by reason, no reporter identities. 401 without "
        "a token; 403 `not_coordinator` for anyone but coordinators and admins."
    )
)
@bp.arguments(QueueQuerySchema, location="query")
@bp.response(200, QueueSchema)
def moderation_queue(args):
    """What coordinators need to review, a page at a time."""
    user = require_user()
    items, total = moderation.queue(user, args["page"], args["per_page"])
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@bp.route(f"/requests/{REQUEST_ID}/hide", methods=["POST"])
@bp.doc(
    description=(
        "Hides an open or claimed request (a held claim ends with outcome `hidden`), or keeps "
        "an already hidden one hidden; its unresolved reports are resolved as upheld and the "
        "action is recorded with your reason. 409 `invalid_transition` for a closed request. "
        + STAFF_ONLY
    )
)
@bp.arguments(ModerationActionSchema)
@bp.response(200, ModeratedRequestSchema)
def hide(args, request_id):
    """Hide a request (coordinators)."""
    user = require_user()
    return _moderated(moderation.hide(request_id, user, args["reason"]))


@bp.route(f"/requests/{REQUEST_ID}/restore", methods=["POST"])
@bp.doc(
    description=(
        "Opens a hidden request again with a fresh expiry (hidden requests were open or "
        "claimed; a claim is not given back); its unresolved reports are resolved as "
        "dismissed. 409 `invalid_transition` unless it is hidden; 409 `duplicate_request` when "
        "its phone number has another open request now. " + STAFF_ONLY
    )
)
@bp.arguments(ModerationActionSchema)
@bp.response(200, ModeratedRequestSchema)
def restore(args, request_id):
    """Show a hidden request again (coordinators)."""
    user = require_user()
    return _moderated(moderation.restore(request_id, user, args["reason"]))


@bp.route("/moderation/flags/<int(max=2147483647):flag_id>/resolve", methods=["POST"])
@bp.doc(
    description=(
        "Marks a flag (e.g. `possible_duplicate`) as looked at, recorded on its request. "
        "Coordinators of the request's area and admins (Authorization: Bearer); 401 without a "
        "token; 403 `not_coordinator` for anyone else, whether the flag exists or not (404 "
        "for an unknown flag only to admins); 409 `already_resolved`."
    )
)
@bp.arguments(FlagResolveSchema, required=False)
@bp.response(200, ResolvedFlagSchema)
def resolve_flag(args, flag_id):
    """Resolve a flag (coordinators)."""
    user = require_user()
    return moderation.resolve_flag(flag_id, user, (args or {}).get("reason"))


# -- blocked phones ----------------------------------------------------------------------

BLOCK_ID = "<int(max=2147483647):block_id>"


@bp.route(f"/requests/{REQUEST_ID}/block-phone", methods=["POST"])
@bp.doc(
    description=(
        "Blocks the request's phone number from posting requests (and from being given to a "
        "request by an edit): posts answer 403 `phone_blocked` until the block is lifted. An "
        "open or claimed request is hidden as by /hide (a held claim ends `hidden`) and its "
        "unresolved reports are upheld; the block is recorded on the request with your reason. "
        "409 `already_blocked` when the phone is blocked already; 409 `request_purged` when "
        "its personal data was purged. " + STAFF_ONLY
    )
)
@bp.arguments(BlockPhoneSchema)
@bp.response(201, BlockSchema)
def block_phone(args, request_id):
    """Block a request's phone number (coordinators)."""
    user = require_user()
    return blocking.block_item(blocking.block_phone(request_id, user, args["reason"]))


@bp.route("/moderation/blocked-phones", methods=["GET"])
@bp.doc(
    description=(
        "Blocks made from requests in your areas (all for admins), those in force first, then "
        "the newest. Shows phone numbers: each is logged as a contact reveal of the request it "
        "was blocked from. 401 without a token; 403 `not_coordinator` for anyone but "
        "coordinators and admins."
    )
)
@bp.arguments(QueueQuerySchema, location="query")
@bp.response(200, BlockedPhonesSchema)
def blocked_phones(args):
    """Blocked phone numbers, a page at a time (coordinators)."""
    user = require_user()
    items, total = blocking.blocks(user, args["page"], args["per_page"])
    blocking.log_shown(items, user, "api")
    return {"items": items, "page": args["page"], "per_page": args["per_page"], "total": total}


@bp.route(f"/moderation/blocked-phones/{BLOCK_ID}/lift", methods=["POST"])
@bp.doc(
    description=(
        "Lets the phone post again; recorded on the request it was blocked from with your "
        "reason (a hidden request stays hidden: restore it apart). Coordinators of that "
        "request's area and admins (Authorization: Bearer); 401 without a token; 403 "
        "`not_coordinator` for anyone else, whether the block exists or not (404 for an "
        "unknown block only to admins); 409 `already_lifted`."
    )
)
@bp.arguments(LiftBlockSchema)
@bp.response(200, BlockSchema)
def lift_block(args, block_id):
    """Lift a block (coordinators)."""
    user = require_user()
    return blocking.block_item(blocking.lift_block(block_id, user, args["reason"]))
