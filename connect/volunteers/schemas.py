"""Volunteer profile shapes."""

from marshmallow import Schema, fields, validate

from connect.accounts.models import MAX_RADIUS_M
from connect.clock import isoformat
from connect.requests.categories import CATEGORIES
from connect.spatial import latlon
from connect.validation import LocationSchema, location_field


class VolunteerProfileSchema(Schema):
    location = location_field(required=True)
    radius_m = fields.Integer(required=True, validate=validate.Range(100, MAX_RADIUS_M))
    categories = fields.List(
        fields.String(validate=validate.OneOf(CATEGORIES)),
        required=True,
        validate=validate.Length(min=1, max=len(CATEGORIES)),
    )
    on_duty = fields.Boolean(required=True)
    capacity = fields.Integer(load_default=1, validate=validate.Range(1, 20))
    sms_alerts = fields.Boolean(
        load_default=False,
        metadata={
            "description": 'Texts to the account\'s phone for "a coordinator gave you a need" '
            'and "your time is nearly up" (off unless asked).'
        },
    )


class VolunteerSchema(Schema):
    user_id = fields.Integer()
    location = fields.Method("_location", metadata={"type": "object"})
    radius_m = fields.Integer()
    categories = fields.List(fields.String())
    on_duty = fields.Boolean()
    capacity = fields.Integer()
    sms_alerts = fields.Boolean()
    active_claims = fields.Integer()
    updated_at = fields.Function(lambda v: isoformat(v.updated_at))

    def _location(self, volunteer):
        lat, lon = latlon(volunteer.location)
        return LocationSchema().dump({"lat": lat, "lon": lon})
