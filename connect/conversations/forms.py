"""The forms of the code pages: a phone to text, the code it got, a new password."""

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Regexp

from connect.accounts.forms import new_password_field, phone_field

_SEPARATORS = re.compile(r"[\s.-]")


def _digits(value):
    # Read off a phone's screen, a code may be typed "123 456" or "123-456".
    return _SEPARATORS.sub("", value) if isinstance(value, str) else value


def code_field():
    """The six digits of a texted code (spaces and dashes dropped)."""
    return StringField(
        _l("Code from the text message"),
        filters=[_digits],
        validators=[
            InputRequired(_l("Enter the code from the text message.")),
            Regexp(r"^[0-9]{6}$", message=_l("The code is the 6 digits in the text message.")),
        ],
    )


class PhoneForm(FlaskForm):
    phone = phone_field()


class CodeForm(FlaskForm):
    phone = phone_field()
    code = code_field()


class PasswordResetForm(CodeForm):
    password = new_password_field(_l("New password"))


class VerifyForm(FlaskForm):
    code = code_field()
