"""Account page forms: what the fields take and the words shown when they are wrong."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import InputRequired, Length, ValidationError

from connect.validation import is_phone_number, normalise_phone

MIN_PASSWORD = 8
MAX_PASSWORD = 128


class MobilePhone:
    """A Vietnamese mobile number; its E.164 form is kept on the field as ``normalised``,
    while the field shows what was typed."""

    def __call__(self, form, field):
        try:
            field.normalised = normalise_phone(field.data or "")
        except ValueError as exc:
            raise ValidationError(
                _l("Enter your mobile number, for example 0912 345 678.")
            ) from exc


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class LoginForm(FlaskForm):
    phone = StringField(
        _l("Mobile number"),
        filters=[_strip],
        validators=[InputRequired(_l("Enter your mobile number.")), MobilePhone()],
    )
    password = PasswordField(
        _l("Password"),
        validators=[
            InputRequired(_l("Enter your password.")),
            Length(max=MAX_PASSWORD, message=_l("Wrong phone number or password.")),
        ],
    )
    next = HiddenField()


class RegisterForm(FlaskForm):
    name = StringField(
        _l("Your name"),
        filters=[_strip],
        validators=[
            InputRequired(_l("Enter your name.")),
            Length(max=100, message=_l("Use at most 100 characters.")),
        ],
    )
    phone = StringField(
        _l("Mobile number"),
        filters=[_strip],
        validators=[InputRequired(_l("Enter your mobile number.")), MobilePhone()],
    )
    password = PasswordField(
        _l("Password"),
        validators=[
            InputRequired(_l("Choose a password.")),
            Length(
                min=MIN_PASSWORD,
                max=MAX_PASSWORD,
                message=_l("Use at least 8 characters. A few words you remember work well."),
            ),
        ],
    )
    next = HiddenField()

    def validate_password(self, field):
        phone = getattr(self.phone, "normalised", None)
        if phone and is_phone_number(field.data, phone):
            raise ValidationError(
                _l(
                    "Your password cannot be your phone number. A few words "
                    "you remember work well."
                )
            )
