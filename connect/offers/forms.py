"""The offer form: the API's posting rules (OfferCreateSchema), in words a helper reads."""

from datetime import timedelta

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
from wtforms.validators import DataRequired, Length, Optional

from connect import clock
from connect.offers.models import OFFER_KINDS
from connect.requests.categories import CATEGORIES
from connect.requests.categories import LABELS as CATEGORY_LABELS
from connect.requests.forms import (
    PhoneAndPlaceAnswers,
    SelectChoice,
    local_phone,
    places,
)

KIND_LABELS = {
    "volunteer": _l("Me, a neighbour"),
    "group": _l("A group"),
    "shop": _l("A shop"),
}
# How long the offer stays listed, in days (the page's choice; the API takes a time).
AVAILABLE_DAYS = (1, 3, 7, 14, 30)
DEFAULT_DAYS = 7


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def days_label(days):
    from flask_babel import ngettext

    return ngettext("%(num)d day", "%(num)d days", days)


class OfferForm(PhoneAndPlaceAnswers, FlaskForm):
    """Posting an offer of help."""

    location_missing = _l(
        "Show us where: press \u201cUse my location\u201d, move the pin on the map, "
        "or choose your area from the list."
    )

    category_choices = list(CATEGORY_LABELS.items())
    kind_choices = list(KIND_LABELS.items())

    kind = RadioField(
        _l("Who offers?"),
        default="volunteer",
        choices=[SelectChoice(name, KIND_LABELS[name]) for name in OFFER_KINDS],
        validators=[DataRequired(message=_l("Choose who offers."))],
    )
    title = StringField(
        _l("What do you offer?"),
        filters=[_strip],
        validators=[
            DataRequired(message=_l("Write what you offer, in a few words.")),
            Length(max=120, message=_l("Please write less: at most 120 letters.")),
        ],
        render_kw={"maxlength": 120, "autocomplete": "off"},
    )
    categories = SelectMultipleField(
        _l("What kind of help is it?"),
        choices=[SelectChoice(name, CATEGORY_LABELS[name]) for name in CATEGORIES],
        validators=[DataRequired(message=_l("Choose at least one kind of help."))],
    )
    description = TextAreaField(
        _l("Tell people more"),
        filters=[_strip],
        validators=[
            DataRequired(message=_l("Write a few words about your offer.")),
            Length(max=2000, message=_l("Please write less: at most 2000 letters.")),
        ],
    )
    quantity = StringField(
        _l("How much? (if you want)"),
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=120, message=_l("Please write less: at most 120 letters.")),
        ],
        render_kw={"maxlength": 120, "autocomplete": "off"},
    )
    available_days = RadioField(
        _l("For how long?"),
        coerce=int,
        default=DEFAULT_DAYS,
        choices=[SelectChoice(days, str(days)) for days in AVAILABLE_DAYS],
        validators=[DataRequired(message=_l("Choose for how long."))],
    )
    lat = HiddenField()
    lon = HiddenField()
    place = SelectField(_l("Or choose your area from the list"), validate_choice=True)
    address = StringField(
        _l("Address (if you want)"),
        filters=[_strip],
        validators=[
            Optional(),
            Length(max=300, message=_l("Please write a shorter address: at most 300 letters.")),
        ],
        render_kw={"autocomplete": "street-address"},
    )
    contact_name = StringField(
        _l("Your name"),
        filters=[_strip],
        validators=[
            DataRequired(message=_l("Write your name.")),
            Length(max=100, message=_l("Please write a shorter name: at most 100 letters.")),
        ],
        render_kw={"autocomplete": "name"},
    )
    phone = TelField(
        _l("Your phone number"),
        filters=[_strip],
        validators=[DataRequired(message=_l("Write your phone number, so you can be reached."))],
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.place.choices = [SelectChoice("", _l("Choose your area"))] + [
            SelectChoice(str(i), name) for i, (name, _, _) in enumerate(places())
        ]
        # (value, label) pairs for the template's toggles.
        self.days_choices = [(days, days_label(days)) for days in AVAILABLE_DAYS]
        self.available_days.choices = [
            SelectChoice(days, label) for days, label in self.days_choices
        ]

    @classmethod
    def for_user(cls, user):
        """A new form, with the account's name and phone filled in."""
        return cls(
            data={
                "contact_name": user.name,
                "phone": local_phone(user.phone),
                "kind": "volunteer",
                "available_days": DEFAULT_DAYS,
            }
        )

    def offer_data(self):
        """The answers in the API's shape (OfferCreateSchema), not yet validated by it."""
        days = (
            self.available_days.data
            if self.available_days.data in AVAILABLE_DAYS
            else DEFAULT_DAYS
        )
        return {
            "kind": self.kind.data,
            "title": self.title.data,
            "description": self.description.data,
            "categories": list(self.categories.data or []),
            "quantity": self.quantity.data or None,
            "location": self.chosen_location(),
            "address": self.address.data or None,
            "contact_name": self.contact_name.data,
            "phone": self.phone.data,
            "available_until": (clock.now() + timedelta(days=days)).isoformat(),
        }

    def load_into(self, schema):
        """The answers loaded by the API's schema, or None with its complaints shown here."""
        try:
            return schema.load(self.offer_data())
        except SchemaError as exc:
            for name in exc.messages:
                field = (
                    getattr(
                        self,
                        {"location": "lat", "available_until": "available_days"}.get(name, name),
                        None,
                    )
                    or self.description
                )
                field.errors = [*field.errors, _l("Please check this answer.")]
            return None
