"""The resident's request form: the API's posting rules, in words a first-time user reads.

The form only gives friendly per-field messages; the data it produces is then loaded with
the API's own schema (``load_into``), so a page can never accept what the API refuses.
"""

import math

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from marshmallow import ValidationError as SchemaError
from wtforms import (
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

try:
    from wtforms import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) pairs

    def SelectChoice(value, label):
        return (value, label)


from connect.requests.categories import CATEGORIES
from connect.requests.categories import LABELS as CATEGORY_LABELS
from connect.requests.models import URGENCIES
from connect.validation import normalise_phone

URGENCY_LABELS = {
    "normal": _l("Not urgent"),
    "urgent": _l("Urgent: I need it today"),
}
MAX_HOUSEHOLD = 50


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def local_phone(e164):
    """+84912345678 as a resident writes it: 0912 345 678."""
    if not (e164 and e164.startswith("+84") and len(e164) == 12):
        return e164
    local = "0" + e164[3:]
    return f"{local[:4]} {local[4:7]} {local[7:]}"


def places():
    """The places a resident may choose instead of a pin: [(name, lat, lon)]."""
    return list(current_app.config["PLACES"])


class PhoneAndPlaceAnswers:
    """Checks of a phone number and a place, for every form that asks for both."""

    location_missing = _l(
        "Show us where you are: press \u201cUse my location\u201d, move the pin on the map, "
        "or choose your area from the list."
    )

    def validate_phone(self, field):
        try:
            normalise_phone(field.data)
        except ValueError:
            raise ValidationError(
                _l(
                    "This phone number does not look right. Write your mobile number: "
                    "10 digits starting with 0, for example 0912 345 678."
                )
            ) from None

    def validate_lat(self, field):
        # The location's message is shown once, with the map and the list (field "lat").
        if self.chosen_location() is None:
            raise ValidationError(self.location_missing)

    def chosen_location(self):
        return location_from_answers(self.place.data, self.lat.data, self.lon.data)


class HelpRequestForm(PhoneAndPlaceAnswers, FlaskForm):
    """Posting a request, and editing one (the same questions, filled in)."""

    # (value, label) pairs for the templates' toggles.
    category_choices = list(CATEGORY_LABELS.items())
    urgency_choices = list(URGENCY_LABELS.items())

    categories = SelectMultipleField(
        _l("What do you need?"),
        choices=[SelectChoice(name, CATEGORY_LABELS[name]) for name in CATEGORIES],
        validators=[DataRequired(message=_l("Choose at least one thing you need."))],
    )
    description = TextAreaField(
        _l("Tell us more"),
        filters=[_strip],
        validators=[
            DataRequired(message=_l("Write what you need, in a few words.")),
            Length(max=2000, message=_l("Please write less: at most 2000 letters.")),
        ],
    )
    household_size = StringField(
        _l("How many people live in your home?"),
        filters=[_strip],
        validators=[
            DataRequired(message=_l("Write how many people live in your home, for example 4."))
        ],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 3},
    )
    urgency = RadioField(
        _l("Is it urgent?"),
        default="normal",
        choices=[SelectChoice(name, URGENCY_LABELS[name]) for name in URGENCIES],
        validators=[DataRequired(message=_l("Choose whether it is urgent."))],
    )
    lat = HiddenField()
    lon = HiddenField()
    place = SelectField(_l("Or choose your area from the list"), validate_choice=True)
    contact_name = StringField(
        _l("Your name"),
        filters=[_strip],
        validators=[
            DataRequired(message=_l("Write your name, so the volunteer knows who to ask for.")),
            Length(max=100, message=_l("Please write a shorter name: at most 100 letters.")),
        ],
        render_kw={"autocomplete": "name"},
    )
    phone = TelField(
        _l("Your phone number"),
        filters=[_strip],
        validators=[
            DataRequired(message=_l("Write your phone number, so a volunteer can call you."))
        ],
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )
    address = StringField(
        _l("Your address (if you want)"),
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=300, message=_l("Please write a shorter address: at most 300 letters.")),
        ],
        render_kw={"autocomplete": "street-address"},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.place.choices = [SelectChoice("", _l("Choose your area"))] + [
            SelectChoice(str(i), name) for i, (name, _, _) in enumerate(places())
        ]

    # -- checks the validators above cannot express ------------------------------------

    def validate_household_size(self, field):
        try:
            size = int(field.data)
        except (TypeError, ValueError):
            raise ValidationError(_l("Write a number, for example 4.")) from None
        if not 1 <= size <= MAX_HOUSEHOLD:
            raise ValidationError(_l("Write a number from 1 to %(most)s.", most=MAX_HOUSEHOLD))

    # -- the data the services take ----------------------------------------------------

    def request_data(self):
        """The answers in the API's shape (RequestCreateSchema), not yet validated by it."""
        return {
            "categories": list(self.categories.data or []),
            "description": self.description.data,
            "household_size": _int_or_none(self.household_size.data),
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

    @classmethod
    def for_request(cls, help_request, lat, lon):
        """The form filled in with a request's current answers (the edit page)."""
        return cls(
            data={
                "categories": list(help_request.categories),
                "description": help_request.description,
                "household_size": str(help_request.household_size),
                "urgency": help_request.urgency,
                "lat": repr(lat),
                "lon": repr(lon),
                "place": "",
                "contact_name": help_request.contact_name,
                "phone": local_phone(help_request.phone),
                "address": help_request.address or "",
            }
        )


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def location_from_answers(place, lat, lon):
    """{lat, lon} from a location field set: a place from the list wins (it is the
    no-JavaScript way), else the pin's hidden inputs; None when neither is usable."""
    if place:
        try:
            _, lat, lon = places()[int(place)]
        except (ValueError, IndexError):
            return None
        return {"lat": lat, "lon": lon}
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return {"lat": lat, "lon": lon}
