"""Volunteer pages: profile, needs near you, the map, claims."""

from datetime import datetime
from urllib.parse import quote

import orjson
import phonenumbers
from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_datetime, format_timedelta, ngettext
from flask_babel import gettext as _

from connect import clock
from connect.accounts.auth import current_user
from connect.accounts.services import get_profile
from connect.errors import ClaimConflict, Conflict, ConnectError, Forbidden
from connect.geo import ranking
from connect.i18n import age_label, away_label, distance_label
from connect.matching.leases import catch_up
from connect.notifications import inbox as inbox_service
from connect.notifications import render
from connect.requests import privacy
from connect.requests.categories import LABELS as CATEGORY_LABELS
from connect.requests.errors import NewVolunteerLimit
from connect.requests.privacy import PRIVATE, Viewer
from connect.requests.queries import (
    claims_held_by,
    effective_status,
    get_request,
    holds_claim,
    holds_claim_of,
)
from connect.requests.services import claim_request, mark_helped, release_request
from connect.requests.state import HELPED
from connect.safety.reports import withdrawn_from
from connect.spatial import latlon
from connect.volunteers.forms import VolunteerProfileForm
from connect.volunteers.schemas import VolunteerProfileSchema
from connect.volunteers.services import save_profile
from connect.web import ratelimits
from connect.web.access import requires, signed_in
from connect.web.boundary import when_refused
from connect.web.pages import answer_expired_forms, message_page, problem_page

bp = Blueprint("volunteer", __name__)
# A form posted from a stale page (or with cookies off) comes back with a message.
answer_expired_forms(bp, back="volunteer.needs", again=("volunteer.profile",))

NEEDS_LIMIT = 50
INBOX_ON_NEEDS = 5
INBOX_LIMIT = 50
REQUEST_ID = "<int(max=2147483647):request_id>"


# Pages for signed-in volunteers: others log in first and come back here (a form, to the needs).
volunteer_page = signed_in(after_post="volunteer.needs")


@bp.get("/volunteer")
def start():
    """Where "I want to help" leads: an account, then a profile, then the needs."""
    user = current_user()
    if user is None:
        return render_template("volunteer/start.html")
    if get_profile(user) is None:
        return redirect(url_for("volunteer.profile"))
    return redirect(url_for("volunteer.needs"))


@bp.route("/volunteer/profile", methods=["GET", "POST"])
@volunteer_page
def profile(user):
    """Your area (a pin, or a place from the list), how far you go, what you bring."""
    saved = get_profile(user)
    form = VolunteerProfileForm.for_profile(saved, *(latlon(saved.location) if saved else ()))
    if form.validate_on_submit():
        data = form.load_into(VolunteerProfileSchema())
        if data is not None:
            save_profile(user, data)
            flash(_("Saved. Here are the needs near you."), "info")
            return redirect(url_for("volunteer.needs"))
    status = 422 if request.method == "POST" else 200
    return render_template("volunteer/profile.html", form=form, new=saved is None), status


@bp.get("/volunteer/needs")
@volunteer_page
def needs(user):
    """Needs near you by fair rank (as the API's default), with the claims you hold on top."""
    profile = get_profile(user)
    if profile is None:
        return redirect(url_for("volunteer.profile"))
    lat, lon = latlon(profile.location)
    body = current_app.extensions["read_model"].nearby_json(
        lat, lon, profile.radius_m, NEEDS_LIMIT, profile.categories or None, ranking.RANK
    )
    now = clock.now()
    items = [_need(item, now) for item in orjson.loads(body)["items"]]
    catch_up(user.id, now)  # a lapsed claim of theirs ends, a due reminder goes out
    viewer = Viewer(user, channel="page")
    # The page names the person of each claim: only as privacy allows, and logged.
    held = [
        help_request
        for help_request in claims_held_by(user.id, now)
        if privacy.view_for(help_request, viewer) == PRIVATE
    ]
    return render_template(
        "volunteer/needs.html",
        needs=items,
        profile=profile,
        radius=distance_label(profile.radius_m),
        claims=[_held(r, now) for r in held],
        inbox=_inbox(user, INBOX_ON_NEEDS, now),
        inbox_limit=INBOX_ON_NEEDS,
    )


@bp.get("/volunteer/inbox")
@volunteer_page
def inbox_page(user):
    """Your notifications: needs sent to you, reminders, assignments; live."""
    now = clock.now()
    catch_up(user.id, now)
    return render_template(
        "volunteer/inbox.html", inbox=_inbox(user, INBOX_LIMIT, now), limit=INBOX_LIMIT
    )


@bp.post("/volunteer/inbox/read")
@volunteer_page
def inbox_read(user):
    """Mark your notifications read, up to the last one the page showed."""
    inbox_service.mark_read(user, request.form.get("up_to", type=int))
    back = "volunteer.inbox_page" if request.form.get("back") == "inbox" else "volunteer.needs"
    return redirect(url_for(back))


def _claim_refused(error, user, request_id):
    """Why the claim did not go through, and where to look instead."""
    if isinstance(error, ClaimConflict):
        help_request = get_request(request_id)
        if holds_claim(help_request, user):  # a second tap on a slow connection
            return redirect(url_for("volunteer.claim_page", request_id=request_id))
        if effective_status(help_request) in ("claimed", *HELPED):
            flash(
                _("Someone else is already helping with this one. Please choose another need."),
                "error",
            )
        else:
            flash(_("This need is closed now. Please choose another one."), "error")
    elif isinstance(error, NewVolunteerLimit):
        flash(
            _(
                "Welcome! New volunteers help with one need at a time. Once you have "
                "marked it helped, you can take on more."
            ),
            "info",
        )
    elif isinstance(error, Conflict):  # capacity reached
        flash(
            ngettext(
                "You are already helping with %(num)d need, as many as you said you "
                "can take on. Finish or let go of it first.",
                "You are already helping with %(num)d needs, as many as you said you "
                "can take on. Finish or let go of one first.",
                error.details.get("capacity", 1),
            ),
            "error",
        )
    else:  # Forbidden: no volunteer profile yet
        flash(_("First tell us your area and how you can help."), "error")
        return redirect(url_for("volunteer.profile"))
    return redirect(url_for("volunteer.needs"))


@bp.post(f"/volunteer/claim/{REQUEST_ID}")
@ratelimits.claims_per_volunteer
@volunteer_page
@when_refused(_claim_refused, Conflict, Forbidden)
def claim(user, request_id):
    """Take a need: the contact details are yours while the claim holds."""
    claim_request(request_id, user)
    return redirect(url_for("volunteer.claim_page", request_id=request_id))


def _not_claimant(user, request_id):
    """Someone else's need, or one withdrawn from this volunteer while a coordinator checks it."""
    if get_request(request_id).status == "hidden" and withdrawn_from(request_id, user.id):
        return _withdrawn()
    return _not_yours()


@bp.get(f"/volunteer/claims/{REQUEST_ID}")
@volunteer_page
@requires(holds_claim_of, refused=_not_claimant)
def claim_page(user, request_id):
    """The claimed need: who, where, how to get there, and until when it is yours."""
    help_request = get_request(request_id)
    # All of this page is contact details: shown only as privacy decides (and logged).
    if privacy.view_for(help_request, Viewer(user, channel="page")) != PRIVATE:
        return _not_claimant(user, request_id)
    now = clock.now()
    lat, lon = latlon(help_request.location)
    profile = get_profile(user)
    origin = latlon(profile.location) if profile else None
    remaining = help_request.lease_expires_at - now
    return render_template(
        "volunteer/claim.html",
        need=_held(help_request, now),
        phone_display=_national(help_request.phone),
        geo_uri=f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}",
        directions_url=_osm_directions(origin, (lat, lon)),
        lease_until=format_datetime(help_request.lease_expires_at, "HH:mm"),
        lease_left=format_timedelta(remaining, granularity="minute", threshold=1.0),
        lease_seconds=max(0, int(remaining.total_seconds())),
        status_url=url_for("requests.get_request", request_id=request_id),
    )


def _no_longer_yours(_error, _user, **_view_args):
    flash(
        _(
            "This need is no longer held by you: it may have been cancelled, finished, "
            "or your time to help ran out."
        ),
        "error",
    )
    return redirect(url_for("volunteer.needs"))


@bp.post(f"/volunteer/claims/{REQUEST_ID}/release")
@volunteer_page
@when_refused(_no_longer_yours, Conflict, Forbidden)
def release(user, request_id):
    """Let the need go back to the list for someone else."""
    release_request(request_id, user)
    flash(_("You let this need go. Someone else can help with it now."), "info")
    return redirect(url_for("volunteer.needs"))


@bp.post(f"/volunteer/claims/{REQUEST_ID}/helped")
@volunteer_page
@when_refused(_no_longer_yours, Conflict, Forbidden)
def helped(user, request_id):
    """The need was met."""
    mark_helped(request_id, user)
    flash(_("Thank you for helping! The need is marked as helped."), "info")
    return redirect(url_for("volunteer.needs"))


@bp.get("/volunteer/map")
def map_page():
    """Open needs (orange) and the ones helped this week (green) on a map."""
    user = current_user()
    profile = get_profile(user) if user else None
    center = latlon(profile.location) if profile else tuple(current_app.config["MAP_CENTER"])
    return render_template(
        "volunteer/map.html",
        user=user,
        center=center,
        radius_m=profile.radius_m if profile else None,
        categories=CATEGORY_LABELS,
    )


@bp.errorhandler(ConnectError)
def problem(error):
    """Service errors on these pages are a page in plain words, not JSON."""
    response = problem_page(
        error,
        {
            404: (_("Not found"), _("We could not find this need. It may have been removed.")),
            403: (_("Not allowed"), _("This page is not for your account.")),
            503: (
                _("Please try again"),
                _("The service is busy for a moment. Please try again in a few seconds."),
            ),
        },
        url_for("volunteer.needs"),
        _("Back to the needs near you"),
    )
    response.headers.update(error.headers)
    return response


# -- helpers ---------------------------------------------------------------------------


def _withdrawn():
    return message_page(
        _("This need was withdrawn"),
        _(
            "This request was withdrawn while a coordinator checks it. You do not need to go. "
            "Thank you for being ready to help."
        ),
        url_for("volunteer.needs"),
        _("Back to the needs near you"),
    )


def _not_yours():
    return message_page(
        _("This need is not held by you"),
        _(
            "Only the volunteer helping with a need sees its details. If it was yours, it may "
            "have been finished, cancelled or given back."
        ),
        url_for("volunteer.needs"),
        _("Back to the needs near you"),
        403,
    )


def _categories(names):
    return render.category_labels(names)


def _need(item, now):
    """A nearby list item, with what the page prints."""
    created = datetime.fromisoformat(item["created_at"].rstrip("Z"))
    distance = item["distance_m"]
    return {
        **item,
        "category_labels": _categories(item["categories"]),
        "distance": away_label(distance),
        "age": age_label(created, now),
    }


def _inbox(user, limit, now):
    """The latest notifications (newest first, as the page lists them) and their counts."""
    items, _more = inbox_service.notifications_of(user.id, limit=limit, now=now)
    return {
        "items": [render.notice(item, now) for item in reversed(items)],
        "last_id": items[-1]["id"] if items else 0,
        "unread": inbox_service.unread_count(user.id),
        "muted": inbox_service.is_muted(user.id),
        "titles": render.titles(),
        "category_labels": CATEGORY_LABELS,
    }


def _held(help_request, now):
    """A claim the volunteer holds, with what the pages print."""
    return {
        "id": help_request.id,
        "description": help_request.description,
        "category_labels": _categories(help_request.categories),
        "household_size": help_request.household_size,
        "urgency": help_request.urgency,
        "location_precision": help_request.location_precision,
        "contact_name": help_request.contact_name,
        "phone": help_request.phone,
        "address": help_request.address,
        "age": age_label(help_request.created_at, now),
        "lease_left": format_timedelta(
            help_request.lease_expires_at - now, granularity="minute", threshold=1.0
        ),
    }


def _national(e164):
    """+84912345678 as people write it: 091 234 56 78."""
    try:
        number = phonenumbers.parse(e164, "VN")
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def _osm_directions(origin, destination):
    """Directions on openstreetmap.org, from the volunteer's area when known."""
    start = f"{origin[0]:.6f},{origin[1]:.6f}" if origin else ""
    route = quote(f"{start};{destination[0]:.6f},{destination[1]:.6f}", safe="")
    return f"https://www.openstreetmap.org/directions?engine=fossgis_osrm_car&route={route}"
