"""Offer shapes: what posting and editing take, the public and private views, lists."""

from datetime import UTC

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from connect.clock import isoformat
from connect.offers.models import OFFER_KINDS
from connect.requests.categories import CATEGORIES
from connect.requests.privacy import PRIVATE, PUBLIC
from connect.requests.schemas import (
    DEFAULT_RADIUS_M,
    MAP_MAX_LIMIT,
    MAX_LIMIT,
    MAX_RADIUS_M,
    BBox,
    CommaList,
)
from connect.spatial import latlon
from connect.validation import LocationSchema, Phone, Text, location_field

# How long an offer stays listed when the poster does not say, and at most.
DEFAULT_AVAILABLE_DAYS = 7
MAX_AVAILABLE_DAYS = 90


def _category_list(**kwargs):
    return fields.List(
        fields.String(
            validate=validate.OneOf(
                CATEGORIES,
                error="Unknown category {input}; use one of: " + ", ".join(CATEGORIES) + ".",
            )
        ),
        validate=validate.Length(min=1, max=20, error="Choose at least one category."),
        **kwargs,
    )


class UtcDateTime(fields.DateTime):
    """An ISO 8601 time, loaded as naive UTC (the stored form); without an offset it is UTC."""

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return moment


_until_doc = {
    "description": f"Until when the offer stands (ISO 8601, UTC unless an offset is "
    f"given): in the future, at most {MAX_AVAILABLE_DAYS} days ahead. "
    f"Posting without it: {DEFAULT_AVAILABLE_DAYS} days.",
    "example": "2025-06-01T12:00:00Z",
}


class OfferCreateSchema(Schema):
    kind = fields.String(
        load_default="volunteer",
        validate=validate.OneOf(OFFER_KINDS),
        metadata={"description": "volunteer (a person), group or shop."},
    )
    title = Text(
        required=True,
        validate=validate.Length(min=1, max=120),
        metadata={"description": "What you offer, in a few words.", "example": "Đi chợ giúp"},
    )
    description = Text(required=True, validate=validate.Length(min=1, max=2000))
    categories = _category_list(required=True)
    quantity = Text(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=120),
        metadata={"description": "How much, in your words.", "example": "20 kg gạo"},
    )
    location = location_field(required=True)
    address = Text(load_default=None, allow_none=True, validate=validate.Length(max=300))
    contact_name = Text(
        load_default=None,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Private. Defaults to the account's name."},
    )
    phone = Phone(
        load_default=None, metadata={"description": "Private. Defaults to the account's phone."}
    )
    available_until = UtcDateTime(load_default=None, metadata=_until_doc)


class OfferEditSchema(Schema):
    """What the offerer (or a coordinator) may change: any posting field; leave out the rest."""

    kind = fields.String(validate=validate.OneOf(OFFER_KINDS))
    title = Text(validate=validate.Length(min=1, max=120))
    description = Text(validate=validate.Length(min=1, max=2000))
    categories = _category_list()
    quantity = Text(allow_none=True, validate=validate.Length(max=120))
    location = location_field()
    address = Text(allow_none=True, validate=validate.Length(max=300))
    contact_name = Text(validate=validate.Length(min=1, max=100))
    phone = Phone()
    available_until = UtcDateTime(metadata=_until_doc)

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("Send at least one field to change.", "_schema")


class OfferCloseSchema(Schema):
    reason = Text(load_default=None, allow_none=True, validate=validate.Length(max=200))


class OfferNearbyQuerySchema(Schema):
    """Always nearest first: an offer does not wait the way a need does."""

    lat = fields.Float(required=True, allow_nan=False, validate=validate.Range(-90, 90))
    lon = fields.Float(required=True, allow_nan=False, validate=validate.Range(-180, 180))
    radius_m = fields.Integer(
        load_default=DEFAULT_RADIUS_M, validate=validate.Range(1, MAX_RADIUS_M)
    )
    categories = CommaList(
        fields.String(validate=validate.OneOf(CATEGORIES)),
        load_default=None,
        metadata={"description": "Offers with any of these."},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_LIMIT))


class OfferMapQuerySchema(Schema):
    bbox = BBox(
        required=True,
        metadata={
            "description": "min_lon,min_lat,max_lon,max_lat; at most 2 degrees each way.",
            "example": "106.15,21.24,106.24,21.31",
        },
    )
    limit = fields.Integer(load_default=1000, validate=validate.Range(1, MAP_MAX_LIMIT))


def _public_location(offer):
    lat, lon = latlon(offer.public_location)
    return {"lat": round(lat, 5), "lon": round(lon, 5)}


def _exact_location(offer):
    lat, lon = latlon(offer.location)
    return {"lat": lat, "lon": lon}


class PublicOfferSchema(Schema):
    """What anyone sees of an offer: never the name, phone, address or exact point."""

    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    description = fields.String()
    categories = fields.List(fields.String())
    quantity = fields.String(allow_none=True)
    location = fields.Function(
        _public_location,
        metadata={"description": "Blurred 150-400 m from the real place, the same on every view."},
    )
    status = fields.Function(
        lambda o: o.effective_status,
        metadata={"description": "open, closed, expired (available_until passed) or hidden."},
    )
    available_until = fields.Function(lambda o: isoformat(o.available_until))
    created_at = fields.Function(lambda o: isoformat(o.created_at))
    updated_at = fields.Function(lambda o: isoformat(o.updated_at))
    closed_at = fields.Function(lambda o: isoformat(o.closed_at))


class OfferSchema(PublicOfferSchema):
    """An offer; private fields are absent (never null) unless the caller may see them."""

    # The private view (the documented answer); dump_offer picks it or the public one.
    contact_name = fields.String(metadata={"description": "Private."})
    phone = fields.String(metadata={"description": "Private."})
    address = fields.String(allow_none=True, metadata={"description": "Private."})
    exact_location = fields.Function(_exact_location, metadata={"description": "Private."})
    offered_by = fields.Integer(
        attribute="user_id", metadata={"description": "Private: the offerer's user id."}
    )


_VIEWS = {PUBLIC: PublicOfferSchema(), PRIVATE: OfferSchema()}


def dump_offer(offer, view):
    """The offer in the view privacy.view_for chose, PUBLIC or PRIVATE."""
    return _VIEWS[view].dump(offer)


class OfferNearbyItemSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    description = fields.String()
    categories = fields.List(fields.String())
    quantity = fields.String(allow_none=True)
    location = fields.Nested(LocationSchema, metadata={"description": "The blurred point."})
    distance_m = fields.Integer(metadata={"description": "From the real place, rounded to 100 m."})
    available_until = fields.String()
    created_at = fields.String()


class OfferNearbyListSchema(Schema):
    items = fields.List(fields.Nested(OfferNearbyItemSchema))


class OfferMapItemSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    title = fields.String()
    categories = fields.List(fields.String())
    quantity = fields.String(allow_none=True)
    location = fields.Nested(
        LocationSchema, metadata={"description": "The blurred public point, never the exact one."}
    )
    available_until = fields.String()


class OfferMapListSchema(Schema):
    items = fields.List(fields.Nested(OfferMapItemSchema))
