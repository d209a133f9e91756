"""Account request and response shapes."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from connect.clock import isoformat
from connect.validation import Phone, String, Text, is_phone_number


class NewPasswordSchema(Schema):
    """A phone and a password for it, under the rules every new password follows."""

    phone = Phone(required=True)
    password = String(
        required=True,
        load_only=True,
        validate=validate.Length(min=8, max=128, error="Use 8 to 128 characters."),
    )

    @validates_schema
    def password_is_not_the_phone(self, data, **_kwargs):
        if "phone" in data and is_phone_number(data.get("password"), data["phone"]):
            raise ValidationError("Do not use your phone number as your password.", "password")


class RegisterSchema(NewPasswordSchema):
    name = Text(required=True, validate=validate.Length(min=1, max=100))


class TokenRequestSchema(Schema):
    phone = Phone(required=True)
    password = String(required=True, load_only=True, validate=validate.Length(max=128))


class TokenSchema(Schema):
    token = fields.String(dump_only=True)
    user_id = fields.Integer(dump_only=True)
    role = fields.String(dump_only=True)


class UserSchema(Schema):
    id = fields.Integer(dump_only=True)
    phone = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    role = fields.String(dump_only=True)
    # Every time in the API is ISO 8601 UTC with a Z; the stored value is naive UTC.
    created_at = fields.Function(
        lambda user: isoformat(user.created_at),
        dump_only=True,
        metadata={"type": "string", "format": "date-time"},
    )
