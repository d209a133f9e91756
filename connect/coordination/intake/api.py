"""Hotline intake: requests entered for callers."""

from flask_smorest import Blueprint
from marshmallow import fields

from connect.coordination.filters import require_coordinator
from connect.coordination.intake import services as intake
from connect.requests.privacy import Viewer
from connect.requests.schemas import RequestCreateSchema, RequestSchema, answer
from connect.web import ratelimits
from connect.web.access import require_user
from connect.web.idempotency import idempotent

bp = Blueprint(
    "intake",
    __name__,
    url_prefix="/api/v1",
    description="Hotline intake: requests entered for callers",
)


class IntakeSchema(RequestCreateSchema):
    """A caller's request as the operator enters it."""

    confirm_duplicate = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Post even though a look-alike (a shared category within 100 m in the "
            "last 48 h) exists. Never overrides `duplicate_request`."
        },
    )


@bp.route("/console/requests", methods=["POST"])
@idempotent
@ratelimits.intake_per_account
@bp.doc(
    description=(
        "Coordinators and admins (401, else 403 `not_coordinator`); the point must lie in one of "
        "the coordinator's areas (403 `outside_your_areas`). A phone with an open or claimed "
        "request answers 409 `duplicate_request`, `details.request_id` naming it to its "
        "coordinators (update that request instead). A request of a shared category within "
        "100 m from the last 48 h answers 409 `possible_duplicate` with `details.nearby` "
        "[{id, distance_m, categories, status, created_at}] unless `confirm_duplicate` is true. "
        "Resident posting limits do not apply: `RATELIMIT_INTAKE_PER_ACCOUNT` does."
    )
)
@bp.arguments(IntakeSchema)
@bp.response(201, RequestSchema)
def enter_request(args):
    """Post a request for a caller (hotline); give the caller the manage link."""
    user = require_coordinator(require_user())
    confirm = args.pop("confirm_duplicate")
    help_request, token = intake.enter_request(user, args, confirm)
    # Holding the new manage link, the operator sees what they typed as the requester would:
    # nothing new is revealed, so nothing is logged.
    return answer(help_request, Viewer(user, token), 201, manage_token=token)
