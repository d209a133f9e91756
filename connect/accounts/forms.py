"""Account page forms: what the fields take and the words shown when they are wrong."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import InputRequired, Length, ValidationError

from connect.validation import is_phone_number, normalise_phone

MIN_PASSWORD = 8
MAX_PASSWORD = 128


def _strip(value):
    return value.strip() if isinstance(value, str) else value


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


class NotThePhone:
    """A password that is not the form's phone number (checked after the phone field)."""

    def __call__(self, form, field):
        phone = getattr(form.phone, "normalised", None)
        if phone and is_phone_number(field.data, phone):
            raise ValidationError(
                _l(
                    "Your password cannot be your phone number. A few words "
                    "you remember work well."
                )
            )


def new_password_field(label):
    """A password field under the rules every new password follows (registration, reset)."""
    return PasswordField(
        label,
        validators=[
            InputRequired(_l("Choose a password.")),
            Length(
                min=MIN_PASSWORD,
                max=MAX_PASSWORD,
                message=_l("Use at least 8 characters. A few words you remember work well."),
            ),
            NotThePhone(),
        ],
    )


def phone_field():
    """A mobile number field (its E.164 form in ``normalised`` once valid)."""
    return StringField(
        _l("Mobile number"),
        filters=[_strip],
        validators=[InputRequired(_l("Enter your mobile number.")), MobilePhone()],
    )


class LoginForm(FlaskForm):
    phone = phone_field()
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
    phone = phone_field()
    password = new_password_field(_l("Password"))
    next = HiddenField()
