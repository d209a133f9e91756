"""The console's queue of requests to place exactly, and the request page's "place exactly"."""

import re

from flask import flash, redirect, render_template, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from connect import clock
from connect.coordination.console import bp, console_page
from connect.coordination.map.views import STATUS_LABELS
from connect.coordination.placing.services import place_exactly, requests_to_place
from connect.coordination.request_page.views import not_found_page
from connect.errors import Forbidden, NotFound
from connect.requests.categories import LABELS as CATEGORY_LABELS
from connect.web.boundary import when_refused

REQUEST_ID = "<int(max=2147483647):request_id>"
# "21.27310, 106.19460" as a map app copies it, or with a space or semicolon between.
_POINT = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*[,; ]\s*(-?\d{1,3}(?:\.\d+)?)\s*$")


class PlaceForm(FlaskForm):
    point = StringField(validators=[DataRequired(), Length(max=60)])


def parse_point(text):
    """(lat, lon) of a typed "lat, lon", or None."""
    match = _POINT.match(text or "")
    if not match:
        return None
    lat, lon = float(match.group(1)), float(match.group(2))
    return (lat, lon) if -90 <= lat <= 90 and -180 <= lon <= 180 else None


@bp.get("/to-place")
@console_page
def to_place(user):
    """Requests texted in, at their commune's point: call, then place each exactly."""
    now = clock.now()
    items = [
        {
            "id": help_request.id,
            "status_label": STATUS_LABELS.get(help_request.status, help_request.status),
            "categories": [CATEGORY_LABELS.get(name, name) for name in help_request.categories],
            "household_size": help_request.household_size,
            "commune": commune,
            "waiting": format_timedelta(
                now - help_request.created_at, granularity="minute", threshold=1.0
            ),
        }
        for help_request, commune in requests_to_place(user, now=now)
    ]
    return render_template("console/to_place.html", title=_("To place"), items=items)


def _not_placed(error, _user, request_id):
    if isinstance(error, (NotFound, Forbidden)):
        return not_found_page()
    flash(_("This request can no longer be changed: it is closed."), "error")
    return redirect(url_for("console.request_page", request_id=request_id))


@bp.post(f"/requests/{REQUEST_ID}/place")
@console_page
@when_refused(_not_placed)
def place(user, request_id):
    """Set the exact point a coordinator learnt (a pin on the map, or typed coordinates)."""
    back = redirect(url_for("console.request_page", request_id=request_id))
    form = PlaceForm()
    point = parse_point(form.point.data) if form.validate_on_submit() else None
    if point is None:
        flash(_("Give the point as latitude, longitude, e.g. 21.27310, 106.19460."), "error")
        return back
    place_exactly(request_id, *point, user)
    flash(_("Placed. Volunteers now see it near this point, blurred as usual."), "success")
    return back
