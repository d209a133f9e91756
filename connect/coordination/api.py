"""Public statistics."""
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from connect.coordination.stats import public_stats

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
