"""The hotline intake form: the caller's answers as an operator types them.

Like the resident form (connect.requests.forms) it only gives friendly per-field messages;
the answers are then loaded with the API's own schema, so the page accepts what the API does.
"""

import math
import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from marshmallow import ValidationError as SchemaError
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectMultipleField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from connect.requests.categories import CATEGORIES
from connect.requests.categories import LABELS as CATEGORY_LABELS
from connect.requests.forms import MAX_HOUSEHOLD, SelectChoice, location_from_answers
from connect.requests.models import URGENCIES
from connect.validation import normalise_phone

# "21.2731, 106.1946" as map apps copy it; a semicolon or spaces between also do.
# The resident form's urgency words speak as the resident ("I need it today").
URGENCY_LABELS = {"normal": _l("Not urgent"), "urgent": _l("Urgent: needed today")}
_TYPED_POINT = re.compile(r"^\s*(-?\d{1,3}(?:\.\d+)?)\s*[,;\s]\s*(-?\d{1,3}(?:\.\d+)?)\s*$")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def typed_point(text):
    """{lat, lon} from "lat, lon" typed by the operator, or None."""
    match = _TYPED_POINT.match(text or "")
    if not match:
        return None
    lat, lon = float(match.group(1)), float(match.group(2))
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return {"lat": lat, "lon": lon}


class IntakeForm(FlaskForm):
    """A request entered for a caller; phone first, so it is checked before the rest."""

    category_choices = list(CATEGORY_LABELS.items())
    urgency_choices = list(URGENCY_LABELS.items())

    phone = TelField(
        _l("Caller's phone number"),
        filters=[_strip],
        validators=[DataRequired(message=_l("Write the caller's phone number."))],
        render_kw={"autocomplete": "off", "inputmode": "tel"},
    )
    contact_name = StringField(
        _l("Caller's name"),
        filters=[_strip],
        validators=[
            DataRequired(
                message=_l("Write the caller's name, so the volunteer knows who to ask for.")
            ),
            Length(max=100, message=_l("At most 100 letters.")),
        ],
        render_kw={"autocomplete": "off"},
    )
    categories = SelectMultipleField(
        _l("What do they need?"),
        choices=[SelectChoice(name, CATEGORY_LABELS[name]) for name in CATEGORIES],
        validators=[DataRequired(message=_l("Choose at least one thing they need."))],
    )
    urgency = RadioField(
        _l("Is it urgent?"),
        default="normal",
        choices=[SelectChoice(name, URGENCY_LABELS[name]) for name in URGENCIES],
        validators=[DataRequired(message=_l("Choose whether it is urgent."))],
    )
    household_size = StringField(
        _l("People in the household"),
        filters=[_strip],
        validators=[DataRequired(message=_l("Write how many people live there, for example 4."))],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 3},
    )
    description = TextAreaField(
        _l("What they asked for"),
        filters=[_strip],
        validators=[
            DataRequired(message=_l("Write what they need, in a few words.")),
            Length(max=2000, message=_l("At most 2000 letters.")),
        ],
    )
    address = StringField(
        _l("Address"),
        filters=[_strip],
        validators=[Optional(), Length(max=300, message=_l("At most 300 letters."))],
        render_kw={"autocomplete": "off"},
    )
    coordinates = StringField(
        _l("Or type the point: latitude, longitude"),
        filters=[_strip],
        render_kw={
            "autocomplete": "off",
            "placeholder": "21.2731, 106.1946",
            "inputmode": "decimal",
        },
    )
    lat = HiddenField()
    lon = HiddenField()
    confirm_duplicate = BooleanField(_l("Post anyway: this caller is not the same household"))

    def validate_phone(self, field):
        try:
            normalise_phone(field.data)
        except ValueError:
            raise ValidationError(
                _l(
                    "This phone number does not look right: 10 digits starting with 0, for "
                    "example 0912 345 678."
                )
            ) from None

    def validate_household_size(self, field):
        try:
            size = int(field.data)
        except (TypeError, ValueError):
            raise ValidationError(_l("Write a number, for example 4.")) from None
        if not 1 <= size <= MAX_HOUSEHOLD:
            raise ValidationError(_l("Write a number from 1 to %(most)s.", most=MAX_HOUSEHOLD))

    def validate_lat(self, field):
        # One message for the place, shown with the map and the typed point (field "lat").
        if self.coordinates.data and typed_point(self.coordinates.data) is None:
            raise ValidationError(
                _l(
                    "Type the point as latitude, longitude, for example "
                    "21.2731, 106.1946; or click the map."
                )
            )
        if self.chosen_location() is None:
            raise ValidationError(
                _l(
                    "Show where the caller lives: click the map, or type "
                    "the point as latitude, longitude."
                )
            )

    def chosen_location(self):
        """The typed point wins (it works without JavaScript), else the map pin."""
        if self.coordinates.data:
            return typed_point(self.coordinates.data)
        return location_from_answers("", self.lat.data, self.lon.data)

    def phone_only_valid(self):
        """Validate just the phone (the early duplicate check); True when it is usable."""
        return self.phone.validate(self, [type(self).validate_phone])

    def request_data(self):
        """The answers in the API's shape (RequestCreateSchema), not yet validated by it."""
        try:
            household = int(self.household_size.data)
        except (TypeError, ValueError):
            household = None
        return {
            "categories": list(self.categories.data or []),
            "description": self.description.data,
            "household_size": household,
            "urgency": self.urgency.data,
            "location": self.chosen_location(),
            "contact_name": self.contact_name.data,
            "phone": self.phone.data,
            "address": self.address.data or None,
        }

    def load_into(self, schema):
        """The answers loaded by the API's schema, or None with its complaints shown here."""
        try:
            return schema.load(self.request_data())
        except SchemaError as exc:
            for name in exc.messages:
                field = getattr(self, "lat" if name == "location" else name, None)
                if field is None:
                    field = self.description
                field.errors = [*field.errors, _l("Please check this answer.")]
            return None
