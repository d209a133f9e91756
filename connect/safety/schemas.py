"""Shapes of the contact reveal log."""
from marshmallow import Schema, fields, validate

from connect.clock import isoformat


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
