"""The volunteer profile form: the API's profile rules, in words a volunteer reads.

The form gives friendly per-field messages; its answers are then loaded with the API's own
schema (``load_into``), so the page can never save what the API would refuse.
"""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from marshmallow import ValidationError as SchemaError
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
)
from wtforms.validators import DataRequired, InputRequired, ValidationError

from connect.i18n import distance_label
from connect.requests.categories import CATEGORIES
from connect.requests.categories import LABELS as CATEGORY_LABELS
from connect.requests.forms import location_from_answers, places

RADIUS_CHOICES_M = (1000, 2000, 5000, 10_000, 20_000)
CAPACITY_CHOICES = (1, 2, 3, 4, 5)
DEFAULTS = {
    "radius_m": 5000,
    "categories": list(CATEGORIES),
    "on_duty": True,
    "capacity": 1,
    "sms_alerts": False,
}


class VolunteerProfileForm(FlaskForm):
    lat = HiddenField()
    lon = HiddenField()
    place = SelectField(_l("Or choose your area from the list"), validate_choice=True)
    radius_m = RadioField(
        _l("How far can you go?"),
        coerce=int,
        validators=[InputRequired(_l("Choose how far you can go."))],
    )
    categories = SelectMultipleField(
        _l("What can you help with?"),
        choices=[(name, CATEGORY_LABELS[name]) for name in CATEGORIES],
        validators=[DataRequired(_l("Choose at least one kind of help."))],
    )
    on_duty = BooleanField(_l("I can help now"))
    sms_alerts = BooleanField(_l("Text me when I am given a need or my time is nearly up"))
    capacity = SelectField(
        _l("How many needs can you take on at the same time?"),
        coerce=int,
        validators=[InputRequired(_l("Choose a number."))],
    )

    def __init__(self, **kwargs):
        """``data`` holds the saved answers (or the defaults); a POST overrides them."""
        super().__init__(**kwargs)
        self.place.choices = [("", _l("Choose your area"))] + [
            (str(i), name) for i, (name, _, _) in enumerate(places())
        ]
        radii = sorted({*RADIUS_CHOICES_M, *(r for r in [self.radius_m.object_data] if r)})
        self.radius_m.choices = [(r, distance_label(r)) for r in radii]
        capacities = sorted({*CAPACITY_CHOICES, *(c for c in [self.capacity.object_data] if c)})
        self.capacity.choices = [(c, str(c)) for c in capacities]

    @classmethod
    def for_profile(cls, profile, lat=None, lon=None):
        """The form with a saved profile's answers, or the defaults for a new volunteer."""
        if profile is None:
            return cls(data={**DEFAULTS, "lat": "", "lon": ""})
        return cls(
            data={
                "lat": repr(lat),
                "lon": repr(lon),
                "place": "",
                "radius_m": profile.radius_m,
                "categories": list(profile.categories),
                "on_duty": profile.on_duty,
                "capacity": profile.capacity,
                "sms_alerts": profile.sms_alerts,
            }
        )

    def validate_lat(self, field):
        # The area's one message is shown with the map and the list (field "lat").
        if self.chosen_location() is None:
            raise ValidationError(
                _l(
                    "Show us your area: press \u201cUse my location\u201d, move the pin on the "
                    "map, or choose your area from the list."
                )
            )

    def chosen_location(self):
        return location_from_answers(self.place.data, self.lat.data, self.lon.data)

    def profile_data(self):
        """The answers in the API's shape (VolunteerProfileSchema), not yet validated by it."""
        return {
            "location": self.chosen_location(),
            "radius_m": self.radius_m.data,
            "categories": list(self.categories.data or []),
            "on_duty": bool(self.on_duty.data),
            "capacity": self.capacity.data,
            "sms_alerts": bool(self.sms_alerts.data),
        }

    def load_into(self, schema):
        """The answers loaded by the API's schema, or None with its complaints shown here."""
        try:
            return schema.load(self.profile_data())
        except SchemaError as exc:
            for name in exc.messages:
                field = getattr(self, "lat" if name == "location" else name, self.categories)
                field.errors = [*field.errors, _l("Please check this answer.")]
            return None
