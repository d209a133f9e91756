"""Batch assignment endpoints: coordinators preview an area's assignment, then apply it."""

import orjson
from flask import Response
from flask_smorest import Blueprint
from marshmallow import EXCLUDE, Schema, fields, validate

from connect.matching import batch
from connect.matching.assignment import REASONS
from connect.web import ratelimits
from connect.web.access import require_user

bp = Blueprint(
    "assignments",
    __name__,
    url_prefix="/api/v1/areas",
    description="Batch assignment of open requests to volunteers (coordinators)",
)

AREA_CODE = "<string(maxlength=64):code>"
_ID = dict(strict=True, required=True, validate=validate.Range(1, 2**31 - 1))
WHO = (
    "Coordinators of the area (or of an area holding it, e.g. its province) and admins "
    "(Authorization: Bearer). 401 without a token; 403 `not_coordinator` for anyone else, "
    "a coordinator of another area included; 404 `unknown_area` for an unknown code."
)


class AssignmentAreaSchema(Schema):
    code = fields.String()
    name = fields.String()
    level = fields.String()


class PlannedPairSchema(Schema):
    request_id = fields.Integer()
    volunteer_id = fields.Integer(metadata={"description": "The volunteer's user id."})
    distance_m = fields.Integer(metadata={"description": "Great-circle metres, exact points."})
    urgent = fields.Boolean()


class AssignedVolunteerSchema(Schema):
    volunteer_id = fields.Integer()
    name = fields.String(metadata={"description": "The display name, nothing more."})
    assigned = fields.Integer(metadata={"description": "Requests this preview gives them."})


class UnservedRequestSchema(Schema):
    request_id = fields.Integer()
    reason = fields.String(metadata={"enum": list(REASONS)})


class BaselineTotalsSchema(Schema):
    served = fields.Integer()
    served_urgent = fields.Integer()
    total_km = fields.Float()


class AssignmentTimingsSchema(Schema):
    load_ms = fields.Float()
    prune_ms = fields.Float()
    solve_ms = fields.Float()
    baseline_ms = fields.Float()
    total_ms = fields.Float()


class AssignmentPreviewSchema(Schema):
    area = fields.Nested(AssignmentAreaSchema)
    computed_at = fields.String()
    open_requests = fields.Integer()
    urgent_requests = fields.Integer()
    available_volunteers = fields.Integer()
    free_capacity = fields.Integer()
    served = fields.Integer()
    served_urgent = fields.Integer()
    total_km = fields.Float()
    pairs = fields.List(fields.Nested(PlannedPairSchema))
    volunteers = fields.List(fields.Nested(AssignedVolunteerSchema))
    unserved = fields.List(fields.Nested(UnservedRequestSchema))
    unserved_by_reason = fields.Dict(keys=fields.String(), values=fields.Integer())
    greedy_baseline = fields.Nested(BaselineTotalsSchema)
    timings = fields.Nested(AssignmentTimingsSchema)


class AssignmentPairSchema(Schema):
    class Meta:
        # The preview's pairs can be sent back as they are (distance_m and urgent ignored).
        unknown = EXCLUDE

    request_id = fields.Integer(**_ID)
    volunteer_id = fields.Integer(**_ID)


class AssignmentApplySchema(Schema):
    pairs = fields.List(
        fields.Nested(AssignmentPairSchema),
        required=True,
        validate=validate.Length(min=1, error="Send at least one pair."),
    )


class AppliedPairSchema(Schema):
    request_id = fields.Integer()
    volunteer_id = fields.Integer()
    distance_m = fields.Integer()


class SkippedPairSchema(Schema):
    request_id = fields.Integer()
    volunteer_id = fields.Integer()
    reason = fields.String(metadata={"enum": list(batch.SKIP_REASONS)})


class AssignmentApplyResultSchema(Schema):
    applied = fields.List(fields.Nested(AppliedPairSchema))
    skipped = fields.List(fields.Nested(SkippedPairSchema))


@bp.route(f"/{AREA_CODE}/assignments/preview", methods=["POST"])
@ratelimits.assignments_per_account
@bp.doc(
    description=(
        "Computes, changing nothing, the assignment of the area's open requests to available "
        "volunteers that serves the most urgent requests, then the most requests, then the "
        "least total distance, within each volunteer's radius, categories and free capacity "
        "(docs/assignment.md). Volunteers are named by user id and display name only. 422 "
        "`batch_too_large` past `ASSIGNMENT_MAX_REQUESTS` open requests or "
        "`ASSIGNMENT_MAX_VOLUNTEERS` available volunteers (20,000 each by default), or "
        "`ASSIGNMENT_MAX_CANDIDATE_PAIRS` (5,000,000) request-volunteer pairs in range. " + WHO
    )
)
@bp.response(200, AssignmentPreviewSchema)
def preview(code):
    """Preview who would go where in an area (coordinators)."""
    user = require_user()
    # Up to tens of thousands of items: encoded directly (the schema documents the shape).
    body = batch.preview_assignment(code, user)
    return Response(orjson.dumps(body), status=200, mimetype="application/json")


@bp.route(f"/{AREA_CODE}/assignments/apply", methods=["POST"])
@ratelimits.assignments_per_account
@bp.doc(
    description=(
        "Claims each request for its volunteer in one transaction, with the same rules as a "
        "volunteer's own claim (the event names you; the claim and the assist are theirs) and "
        "an `assigned` notification to each. Everything is checked again: a pair that no "
        "longer fits is skipped with its reason (`not_in_area`, `not_a_volunteer`, "
        "`volunteer_unavailable`, `own_request`, `out_of_range`, `category_mismatch`, "
        "`request_not_open` when someone claimed it meanwhile, `already_assigned`, "
        "`no_capacity`) and the others go ahead. At most `ASSIGNMENT_MAX_PAIRS` (500) pairs; "
        "422 `duplicate_request_in_pairs` when a request appears twice. " + WHO
    )
)
@bp.arguments(AssignmentApplySchema)
@bp.response(200, AssignmentApplyResultSchema)
def apply(args, code):
    """Apply an assignment (coordinators): create the claims and notify the volunteers."""
    user = require_user()
    return batch.apply_assignment(
        code, user, [(pair["request_id"], pair["volunteer_id"]) for pair in args["pairs"]]
    )
