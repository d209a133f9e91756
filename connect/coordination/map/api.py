"""The coordinator console map: server-side aggregation."""

import orjson
from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from connect.coordination.filters import ConsoleFilterSchema, require_coordinator
from connect.coordination.map import data as mapdata
from connect.requests.schemas import BBox
from connect.web.access import require_user

bp = Blueprint(
    "console_map",
    __name__,
    url_prefix="/api/v1",
    description="The coordinator console map: server-side aggregation",
)

MAX_SPAN_DEG = 6.0  # a whole province fits


class ConsoleMapQuerySchema(ConsoleFilterSchema):
    bbox = BBox(
        required=True,
        max_span_deg=MAX_SPAN_DEG,
        metadata={
            "description": "min_lon,min_lat,max_lon,max_lat; at most 6 degrees each way.",
            "example": "105.88,21.10,107.03,21.62",
        },
    )
    zoom = fields.Integer(
        required=True,
        strict=False,
        validate=validate.Range(0, 20),
        metadata={"description": "The map's zoom (256 px tiles)."},
    )


class _Cluster(Schema):
    lat = fields.Float(metadata={"description": "Mean of its requests' exact points."})
    lon = fields.Float()
    count = fields.Integer()
    by_status = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "Effective statuses, non-zero only."},
    )
    urgent = fields.Integer()
    oldest_created_at = fields.String()


class _Point(Schema):
    id = fields.Integer()
    lat = fields.Float(metadata={"description": "The exact point."})
    lon = fields.Float()
    status = fields.String(metadata={"description": "Effective status."})
    categories = fields.List(fields.String())
    urgency = fields.String()
    created_at = fields.String()
    description = fields.String(metadata={"description": "What is needed (no contact)."})
    household_size = fields.Integer()


class _VolunteerCell(Schema):
    lat = fields.Float()
    lon = fields.Float()
    count = fields.Integer(metadata={"description": "On-duty volunteers in the cell."})
    free = fields.Integer(metadata={"description": "Claims they may still take."})


class ConsoleMapSchema(Schema):
    zoom = fields.Integer()
    cell_deg = fields.Float(
        allow_none=True,
        metadata={
            "description": "The cluster cell in degrees; null when requests come as points."
        },
    )
    total = fields.Integer(metadata={"description": "Matching requests in the box."})
    clusters = fields.List(fields.Nested(_Cluster))
    points = fields.List(fields.Nested(_Point))
    heat = fields.List(
        fields.List(fields.Float()),
        metadata={
            "description": "[lat, lon, weight]: open requests per half cell, each weighing "
            "min(hours waited, 72) / 72."
        },
    )
    heat_max = fields.Float()
    volunteers = fields.List(fields.Nested(_VolunteerCell))


@bp.route("/console/map", methods=["GET"])
@bp.doc(
    description=(
        "Requests in your areas (all for admins) matching the filters, with their exact point "
        "in the box, aggregated on the server. Without `status`, shows open and claimed "
        "requests and those helped or confirmed in the last 7 days (statuses are effective: a "
        "lapsed claim is open). `points` (exact, with ids) when the box holds at most 500, or "
        "from zoom 16 on while it holds at most 5,000; `clusters` otherwise, on a grid of "
        "`cell_deg` = 360 / 2^zoom / 256 x 60 degrees (about 60 px; coarser when the box is "
        "over 100 cells across), each at the mean of its requests. `heat`: open requests per "
        "half cell, each weighing min(hours waited, 72) / 72. `volunteers`: on-duty volunteers "
        "placed in your areas (and in `area`, if given) in the box, per cell, with the claims "
        "they may still take (`free`: capacity, 1 for a volunteer who has not helped yet, less "
        "live claims). 401 without a token or session; 403 `not_coordinator` for anyone but "
        "coordinators and admins, or for an `area` you do not coordinate; 404 `unknown_area`."
    )
)
@bp.arguments(ConsoleMapQuerySchema, location="query")
@bp.response(200, ConsoleMapSchema)
def console_map(args):
    """The console map's layers: clusters or points, heat of unmet need, volunteers."""
    user = require_coordinator(require_user())
    # orjson, not the schema: the layers can be a few thousand items.
    return Response(
        orjson.dumps(mapdata.console_map(user, args)), status=200, mimetype="application/json"
    )
