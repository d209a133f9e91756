"""Report ("Báo xấu") and moderation endpoints."""
from flask_smorest import Blueprint

from connect import ratelimits
from connect.accounts.auth import require_user
from connect.requests.queries import effective_status
from connect.safety import moderation, reports
from connect.safety.report_schemas import (
    FlagResolveSchema,
    ModeratedRequestSchema,
    ModerationActionSchema,
    QueueQuerySchema,
    QueueSchema,
    ReportCreateSchema,
    ReportSchema,
    ResolvedFlagSchema,
)

bp = Blueprint("safety", __name__, url_prefix="/api/v1",
               description="Reports (Báo xấu) and coordinator moderation")

REQUEST_ID = "<int(max=2147483647):request_id>"
STAFF_ONLY = ("Coordinators of the request's area and admins (Authorization: Bearer). "
              "401 without a token; 403 `not_coordinator` for anyone else; 404 for an "
              "unknown request.")


def _moderated(help_request):
    help_request.effective_status = effective_status(help_request)
    return help_request


@bp.route(f"/requests/{REQUEST_ID}/report", methods=["POST"])
@ratelimits.reports_per_account
@bp.doc(description=(
    "Needs an account (Authorization: Bearer; any role), so that each reporter counts once. "
    "Once `REPORT_HIDE_THRESHOLD` (default 3) different accounts have unresolved reports "
    "on an open or claimed request, it is hidden until a coordinator reviews it. Errors: "
    "401 without a token; 404 for an unknown request; 403 `own_subject` for your own "
    "request; 409 `already_reported` when this account reported it before (it is not "
    "counted again); 409 `request_closed` when it is closed (helped, confirmed, cancelled "
    "or expired); 422 for a bad reason or a comment over 300 characters."))
@bp.arguments(ReportCreateSchema)
@bp.response(201, ReportSchema)
def report_request(args, request_id):
    """Report a request as a joke, advertising, a scam, false, or something else."""
    user = require_user()
    return reports.report("request", request_id, user, args["reason"], args["comment"])


@bp.route("/moderation/queue", methods=["GET"])
@bp.doc(description=(
    "Requests in your areas (all for admins) that are open, claimed or hidden and have "
    "unresolved reports or unresolved flags: hidden ones pending review first, then the "
    "most reported, then the oldest. Counts by reason, no reporter identities. 401 without "
    "a token; 403 `not_coordinator` for anyone but coordinators and admins."))
@bp.arguments(QueueQuerySchema, location="query")
@bp.response(200, QueueSchema)
def moderation_queue(args):
    """What coordinators need to review, a page at a time."""
    user = require_user()
    items, total = moderation.queue(user, args["page"], args["per_page"])
    return {"items": items, "page": args["page"], "per_page": args["per_page"],
            "total": total}


@bp.route(f"/requests/{REQUEST_ID}/hide", methods=["POST"])
@bp.doc(description=(
    "Hides an open or claimed request (a held claim ends with outcome `hidden`), or keeps "
    "an already hidden one hidden; its unresolved reports are resolved as upheld and the "
    "action is recorded with your reason. 409 `invalid_transition` for a closed request. "
    + STAFF_ONLY))
@bp.arguments(ModerationActionSchema)
@bp.response(200, ModeratedRequestSchema)
def hide(args, request_id):
    """Hide a request (coordinators)."""
    user = require_user()
    return _moderated(moderation.hide(request_id, user, args["reason"]))


@bp.route(f"/requests/{REQUEST_ID}/restore", methods=["POST"])
@bp.doc(description=(
    "Opens a hidden request again with a fresh expiry (hidden requests were open or "
    "claimed; a claim is not given back); its unresolved reports are resolved as "
    "dismissed. 409 `invalid_transition` unless it is hidden; 409 `duplicate_request` when "
    "its phone number has another open request now. " + STAFF_ONLY))
@bp.arguments(ModerationActionSchema)
@bp.response(200, ModeratedRequestSchema)
def restore(args, request_id):
    """Show a hidden request again (coordinators)."""
    user = require_user()
    return _moderated(moderation.restore(request_id, user, args["reason"]))


@bp.route("/moderation/flags/<int(max=2147483647):flag_id>/resolve", methods=["POST"])
@bp.doc(description=(
    "Marks a flag (e.g. `possible_duplicate`) as looked at, recorded on its request. "
    "Coordinators of the request's area and admins (Authorization: Bearer); 401 without a "
    "token; 403 `not_coordinator` for anyone else, whether the flag exists or not (404 "
    "for an unknown flag only to admins); 409 `already_resolved`."))
@bp.arguments(FlagResolveSchema, required=False)
@bp.response(200, ResolvedFlagSchema)
def resolve_flag(args, flag_id):
    """Resolve a flag (coordinators)."""
    user = require_user()
    return moderation.resolve_flag(flag_id, user, (args or {}).get("reason"))
