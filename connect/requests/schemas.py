"""Help request shapes: what posting takes, the public and private views, the reveal log."""

import math

from flask import jsonify
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from connect.clock import isoformat
from connect.geo.ranking import DEFAULT_SORT, SORTS
from connect.requests import privacy
from connect.requests.categories import CATEGORIES
from connect.requests.models import URGENCIES
from connect.requests.privacy import PRIVATE, PUBLIC
from connect.requests.queries import effective_state
from connect.spatial import latlon
from connect.validation import LocationSchema, Phone, Text, location_field

MAX_RADIUS_M = 50_000
DEFAULT_RADIUS_M = 2_000
MAX_LIMIT = 200

_categories = fields.List(
    fields.String(
        validate=validate.OneOf(
            CATEGORIES,
            error="Unknown category {input}; use one of: " + ", ".join(CATEGORIES) + ".",
        )
    ),
    required=True,
    validate=validate.Length(min=1, max=20, error="Choose at least one category."),
)


class RequestCreateSchema(Schema):
    categories = _categories
    description = Text(required=True, validate=validate.Length(min=1, max=2000))
    household_size = fields.Integer(required=True, strict=True, validate=validate.Range(1, 50))
    urgency = fields.String(load_default="normal", validate=validate.OneOf(URGENCIES))
    location = location_field(required=True)
    contact_name = Text(required=True, validate=validate.Length(min=1, max=100))
    phone = Phone(required=True)
    address = Text(load_default=None, allow_none=True, validate=validate.Length(max=300))
    sms_updates = fields.Boolean(
        load_default=True,
        metadata={
            "description": "Text the phone its link and news of the request (who is coming, "
            '"were you helped?"); false: no texts but the codes it asks for.'
        },
    )
    language = fields.String(
        load_default=None,
        validate=validate.OneOf(("vi", "en")),
        metadata={"description": "The language of the texts; the page's (vi by default)."},
    )


class RequestEditSchema(Schema):
    """What a requester may change (PATCH): any posting field; leave out what stays."""

    categories = fields.List(
        fields.String(
            validate=validate.OneOf(
                CATEGORIES,
                error="Unknown category {input}; use one of: " + ", ".join(CATEGORIES) + ".",
            )
        ),
        validate=validate.Length(min=1, max=20, error="Choose at least one category."),
    )
    description = Text(validate=validate.Length(min=1, max=2000))
    household_size = fields.Integer(strict=True, validate=validate.Range(1, 50))
    urgency = fields.String(validate=validate.OneOf(URGENCIES))
    location = location_field()
    contact_name = Text(validate=validate.Length(min=1, max=100))
    phone = Phone()
    address = Text(allow_none=True, validate=validate.Length(max=300))

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("Send at least one field to change.", "_schema")


class CancelSchema(Schema):
    reason = Text(load_default=None, allow_none=True, validate=validate.Length(max=200))


class CommaList(fields.List):
    """A query list given as repeated parameters or as one comma-separated value."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        elif isinstance(value, list):
            value = [part for item in value for part in str(item).split(",") if part.strip()]
        return super()._deserialize(value, attr, data, **kwargs)


class NearbyQuerySchema(Schema):
    lat = fields.Float(required=True, allow_nan=False, validate=validate.Range(-90, 90))
    lon = fields.Float(required=True, allow_nan=False, validate=validate.Range(-180, 180))
    radius_m = fields.Integer(
        load_default=DEFAULT_RADIUS_M, validate=validate.Range(1, MAX_RADIUS_M)
    )
    categories = CommaList(fields.String(validate=validate.OneOf(CATEGORIES)), load_default=None)
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_LIMIT))
    sort = fields.String(
        load_default=DEFAULT_SORT,
        validate=validate.OneOf(SORTS),
        metadata={
            "description": "`rank` (default): the fair rank of docs/ranking.md, distance shortened "
            "for urgency and waiting time; `distance`: nearest first."
        },
    )


def _public_location(help_request):
    lat, lon = latlon(help_request.public_location)
    return {"lat": round(lat, 5), "lon": round(lon, 5)}


def _exact_location(help_request):
    lat, lon = latlon(help_request.location)
    return {"lat": lat, "lon": lon}


class PublicRequestSchema(Schema):
    """What anyone sees of a request: never the name, phone, address or exact point."""

    id = fields.Integer()
    categories = fields.List(fields.String())
    description = fields.String()
    household_size = fields.Integer()
    urgency = fields.String()
    location = fields.Function(
        _public_location,
        metadata={"description": "Blurred 150-400 m from the real place, the same on every view."},
    )
    status = fields.Function(lambda r: r.effective_status)
    created_at = fields.Function(lambda r: isoformat(r.created_at))
    updated_at = fields.Function(lambda r: isoformat(r.updated_at))
    expires_at = fields.Function(lambda r: isoformat(r.effective_expires_at))
    location_precision = fields.String(
        metadata={
            "description": '"exact", or "area" when placed at its commune\'s point (posted by '
            "SMS): approximate until a coordinator places it."
        }
    )


class PrivateRequestSchema(PublicRequestSchema):
    """What privacy.view_for shows the requester, the claimant and coordinators: all of it."""

    contact_name = fields.String(metadata={"description": "Private."})
    phone = fields.String(metadata={"description": "Private."})
    address = fields.String(allow_none=True, metadata={"description": "Private."})
    exact_location = fields.Function(_exact_location, metadata={"description": "Private."})
    claimed_by = fields.Integer(
        attribute="claimed_by_id",
        allow_none=True,
        metadata={"description": "Private: the claimant's user id."},
    )
    lease_expires_at = fields.Function(
        lambda r: isoformat(r.lease_expires_at) if r.effective_status == "claimed" else None,
        metadata={"description": "Private."},
    )
    source = fields.String(metadata={"description": "Private."})


class RequestSchema(PrivateRequestSchema):
    """A help request. Private fields appear only for the requester, the volunteer holding
    the claim and coordinators; for anyone else they are absent, never null."""

    # The documented answer: one of the two views above (dump_request), with this field
    # only right after posting.
    manage_token = fields.String(
        metadata={
            "description": "Only in the response to posting (or to a new link): the requester's key to this "
            "request; send it as X-Manage-Token."
        }
    )


_VIEWS = {PUBLIC: PublicRequestSchema(), PRIVATE: PrivateRequestSchema()}


def dump_request(help_request, view, manage_token=None):
    """The request in the view privacy.view_for chose, PUBLIC or PRIVATE; a manage token is
    added to a private view only (the answer to posting or to a new link)."""
    data = _VIEWS[view].dump(help_request)
    if manage_token is not None and view == PRIVATE:
        data["manage_token"] = manage_token
    return data


def answer(help_request, viewer, status=200, manage_token=None):
    """The request as JSON in the view privacy.view_for gives this viewer (which logs a
    reveal); RequestSchema documents it."""
    help_request.effective_status, help_request.effective_expires_at = effective_state(
        help_request
    )
    view = privacy.view_for(help_request, viewer)
    return jsonify(dump_request(help_request, view, manage_token)), status


class NearbyItemSchema(Schema):
    id = fields.Integer()
    categories = fields.List(fields.String())
    description = fields.String()
    household_size = fields.Integer()
    urgency = fields.String()
    location = fields.Nested(LocationSchema)
    location_precision = fields.String(
        metadata={
            "description": '"exact", or "area": placed at its commune\'s point (texted in), '
            "approximate until a coordinator places it; its location is that point, unblurred."
        }
    )
    distance_m = fields.Integer(metadata={"description": "From the real place, rounded to 100 m."})
    created_at = fields.String()
    status = fields.String()


class NearbyListSchema(Schema):
    items = fields.List(fields.Nested(NearbyItemSchema))


MAP_MAX_SPAN_DEG = 2.0
MAP_MAX_LIMIT = 2000


class BBox(fields.String):
    """A box as one comma-separated value: min_lon,min_lat,max_lon,max_lat."""

    def __init__(self, *args, max_span_deg=MAP_MAX_SPAN_DEG, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_span_deg = max_span_deg

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        parts = text.split(",")
        try:
            numbers = [float(part) for part in parts]
        except ValueError:
            numbers = []
        if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
            raise ValidationError("Give four numbers: min_lon,min_lat,max_lon,max_lat.")
        min_lon, min_lat, max_lon, max_lat = numbers
        if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
            raise ValidationError(
                "Longitudes -180..180 and latitudes -90..90, each min below its max."
            )
        if max_lon - min_lon > self.max_span_deg or max_lat - min_lat > self.max_span_deg:
            raise ValidationError(
                f"The box may span at most {self.max_span_deg:g} degrees each way; zoom in."
            )
        return min_lon, min_lat, max_lon, max_lat


class MapQuerySchema(Schema):
    bbox = BBox(
        required=True,
        metadata={
            "description": "min_lon,min_lat,max_lon,max_lat; at most 2 degrees each way.",
            "example": "106.15,21.24,106.24,21.31",
        },
    )
    limit = fields.Integer(load_default=1000, validate=validate.Range(1, MAP_MAX_LIMIT))


class MapItemSchema(Schema):
    id = fields.Integer()
    status = fields.String(metadata={"description": "open, helped or confirmed."})
    categories = fields.List(fields.String())
    urgency = fields.String()
    location = fields.Nested(
        LocationSchema, metadata={"description": "The blurred public point, never the exact one."}
    )
    location_precision = fields.String(
        metadata={"description": '"exact", or "area" (approximate: its commune\'s point).'}
    )
    created_at = fields.String()


class MapListSchema(Schema):
    items = fields.List(fields.Nested(MapItemSchema))


class RevealQuerySchema(Schema):
    limit = fields.Integer(load_default=200, validate=validate.Range(1, 200))


class RevealItemSchema(Schema):
    viewer_id = fields.Integer()
    viewer_name = fields.String(metadata={"description": "Given name only."})
    role = fields.String(metadata={"description": "claimant, coordinator or admin."})
    channel = fields.String(metadata={"description": "api or page."})
    at = fields.Function(lambda reveal: isoformat(reveal["at"]))


class RevealListSchema(Schema):
    items = fields.List(fields.Nested(RevealItemSchema))
