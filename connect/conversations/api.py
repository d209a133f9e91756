"""A forgotten password over the API: a code by SMS, then a new password with it."""

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from connect.accounts.schemas import NewPasswordSchema
from connect.conversations import codes
from connect.validation import Phone
from connect.web import ratelimits

bp = Blueprint(
    "password_reset",
    __name__,
    url_prefix="/api/v1/auth",
    description="A forgotten password: a 6-digit code by SMS, then a new password",
)
CODE_FORMAT = validate.Regexp(r"^[0-9]{6}$", error="The code is the 6 digits of the text.")


class PasswordResetSchema(Schema):
    phone = Phone(required=True)
    language = fields.String(
        load_default=None,
        validate=validate.OneOf(("vi", "en")),
        metadata={"description": "The language of the text (vi by default)."},
    )


class PasswordResetConfirmSchema(NewPasswordSchema):
    """The code texted to the phone, and the new password (registration's rules)."""

    code = fields.String(required=True, load_only=True, validate=CODE_FORMAT)


@bp.route("/password-reset", methods=["POST"])
@ratelimits.codes_per_ip
@ratelimits.codes_per_phone
@bp.arguments(PasswordResetSchema)
@bp.response(202)
def ask_password_reset(args):
    """Text a 6-digit code to the account's phone: 202 whether or not the number has an
    account (only an account's number gets a text). It works once, for 10 minutes and 5 tries."""
    language = args["language"] or current_app.config["BABEL_DEFAULT_LOCALE"]
    codes.ask_password_reset(args["phone"], language)


@bp.route("/password-reset/confirm", methods=["POST"])
@ratelimits.code_tries_per_phone
@bp.arguments(PasswordResetConfirmSchema)
@bp.response(204)
def confirm_password_reset(args):
    """A new password with the texted code: every session and token of the account ends (log
    in again). A code that is wrong, used, expired or out of tries answers 422 invalid_code."""
    codes.reset_password(args["phone"], args["code"], args["password"])
