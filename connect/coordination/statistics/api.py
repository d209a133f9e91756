"""Statistics: public counts, and the coordinator console's figures."""

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from connect.coordination.statistics.services import (
    DEFAULT_DAYS,
    MAX_DAYS,
    StatsQuerySchema,
    console_stats,
    public_stats,
)
from connect.requests.state import CLOSED
from connect.web.access import require_user

bp = Blueprint("stats", __name__, url_prefix="/api/v1/stats", description="Aggregate counts")


class _RequestCounts(Schema):
    total = fields.Integer()
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer())


class _AssistCounts(Schema):
    helped = fields.Integer(metadata={"description": "Requests marked helped (incl. confirmed)."})
    confirmed = fields.Integer(metadata={"description": "Requests the requester confirmed."})


class StatsSchema(Schema):
    requests = fields.Nested(_RequestCounts)
    assists = fields.Nested(_AssistCounts)


@bp.route("", methods=["GET"])
@bp.response(200, StatsSchema)
def stats():
    """Counts of requests by status and of assists; no personal data."""
    return public_stats()


class _AssistDay(Schema):
    date = fields.Date()
    helped = fields.Integer(
        metadata={"description": "Requests first marked helped (or confirmed) that day."}
    )
    confirmed = fields.Integer(metadata={"description": "Requests confirmed that day."})


class _OpenNeedCell(Schema):
    area_code = fields.String()
    area_name = fields.String()
    category = fields.String()
    count = fields.Integer()


class ConsoleStatsSchema(Schema):
    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    assists_per_day = fields.List(
        fields.Nested(_AssistDay),
        metadata={"description": "Every day of the range, zeros included."},
    )
    requests_posted = fields.Integer(metadata={"description": "Requests posted in the range."})
    fulfilment_rate = fields.Float(
        allow_none=True,
        metadata={
            "description": (
                f"Of the requests posted in the range that are closed now ({', '.join(CLOSED)}"
                "), the share helped or confirmed; null when none is closed."
            )
        },
    )
    median_time_to_claim_s = fields.Float(
        allow_none=True,
        metadata={
            "description": (
                "Median seconds from posting to the first claim, over the requests posted in the "
                "range that were ever claimed; null when none was."
            )
        },
    )
    median_time_to_help_s = fields.Float(
        allow_none=True,
        metadata={
            "description": (
                "Median seconds from posting to first helped (or confirmed), over the requests "
                "posted in the range that were; null when none was."
            )
        },
    )
    open_need = fields.List(
        fields.Nested(_OpenNeedCell),
        metadata={
            "description": (
                "Requests open now, per area in scope (the areas granted, or the `area` filter, each "
                "with the areas inside it; admins: all) × category. A request counts in each of its "
                "areas and categories. Non-zero cells only, by area code, then count descending."
            )
        },
    )
    open_total = fields.Integer(metadata={"description": "Requests open now (each once)."})


@bp.route("/console", methods=["GET"])
@bp.doc(
    description=(
        "Coordinators (their areas) and admins (everywhere); 401 without an account, 403 "
        "`not_coordinator` for others or for an `area` not theirs. Days are local (the service's "
        f"timezone); the range defaults to the last {DEFAULT_DAYS} days, spans at most {MAX_DAYS}, "
        "and `to` must not be before `from` (422). The filters narrow every figure. Assists are "
        "counted from the request events, which survive the purge of personal data: a request "
        "counts as helped on the day it was first marked helped (or confirmed straight from a "
        "claim), as confirmed on the day the requester confirmed it."
    )
)
@bp.arguments(StatsQuerySchema, location="query")
@bp.response(200, ConsoleStatsSchema)
def console(args):
    """The console's figures: assists per day, fulfilment rate, median times, open need."""
    return console_stats(require_user(), args)
