"""A request in the console: everything about it, its history, and who could go now."""

import phonenumbers
from flask import flash, redirect, render_template, url_for
from flask_babel import format_datetime, format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from connect import clock
from connect.accounts.models import User
from connect.coordination.console import bp, console_page
from connect.coordination.map.views import STATUS_LABELS
from connect.coordination.request_page import assign
from connect.errors import ClaimConflict, Forbidden, NotFound
from connect.extensions import db
from connect.requests import privacy, sms_links
from connect.requests.categories import LABELS as CATEGORY_LABELS
from connect.requests.privacy import PRIVATE, Viewer
from connect.requests.queries import effective_state
from connect.requests.state import ACTIVE
from connect.safety import moderation
from connect.safety.forms import REASON_LABELS
from connect.spatial import latlon
from connect.web.boundary import when_refused
from connect.web.pages import message_page

REQUEST_ID = "<int(max=2147483647):request_id>"
CANDIDATES_SHOWN = 10
SOURCE_LABELS = {"web": _l("Web page"), "api": _l("App or API"), "hotline": _l("Hotline")}
ACTOR_LABELS = {
    "requester": _l("Requester"),
    "volunteer": _l("Volunteer"),
    "coordinator": _l("Coordinator"),
    "admin": _l("Admin"),
    "system": _l("System"),
}
# What a coordinator is told when an assignment does not go through, by error code/reason.
NOT_SUITABLE_MESSAGES = {
    "volunteer_unavailable": _l("This volunteer is off duty or their account is disabled."),
    "own_request": _l("This volunteer posted the request themselves."),
    "out_of_range": _l("This request is beyond how far this volunteer goes."),
    "category_mismatch": _l("This volunteer does not bring what the request asks for."),
    "no_capacity": _l("This volunteer already holds as many claims as they can take."),
}


class AssignForm(FlaskForm):
    volunteer_id = IntegerField(validators=[DataRequired(), NumberRange(1, 2**31 - 1)])
    reason = StringField(validators=[Optional(), Length(max=200)])


def not_found_page():
    """The same page for an unknown request and one in someone else's area: nothing leaks."""
    return message_page(
        _("Not found"),
        _("There is no request with this number in your areas."),
        url_for("console.index"),
        _("Back to the console"),
        404,
    )


def _national(e164):
    """+84912345678 as people write it: 091 234 56 78."""
    try:
        return phonenumbers.format_number(
            phonenumbers.parse(e164, "VN"), phonenumbers.PhoneNumberFormat.NATIONAL
        )
    except phonenumbers.NumberParseException:
        return e164


def _when(value):
    return format_datetime(value, "dd/MM/yyyy HH:mm") if value else ""


def _people(*user_ids):
    """{id: User} of these ids (None left out)."""
    ids = {user_id for user_id in user_ids if user_id}
    if not ids:
        return {}
    return {
        user.id: user
        for user in db.session.execute(select(User).where(User.id.in_(ids))).scalars()
    }


def _need(help_request, now):
    """What the page shows of the request itself."""
    status, expires_at = effective_state(help_request, now)
    people = _people(help_request.entered_by_id, help_request.claimed_by_id)
    claimant = people.get(help_request.claimed_by_id)
    exact = latlon(help_request.location)
    public = latlon(help_request.public_location)
    return {
        "id": help_request.id,
        "status": status,
        "status_label": STATUS_LABELS.get(status, status),
        "categories": [CATEGORY_LABELS.get(name, name) for name in help_request.categories],
        "description": help_request.description,
        "household_size": help_request.household_size,
        "urgent": help_request.urgency == "urgent",
        "posted": _when(help_request.created_at),
        "age": format_timedelta(
            now - help_request.created_at, granularity="minute", threshold=1.0
        ),
        "waiting": status == "open",
        "expires": _when(expires_at) if status in ACTIVE else "",
        "closed": _when(help_request.closed_at),
        "purged": help_request.purged_at is not None,
        "contact_name": help_request.contact_name,
        "phone": help_request.phone,
        "phone_display": _national(help_request.phone) if help_request.phone else "",
        "phone_verified": sms_links.phone_proven(help_request),
        "address": help_request.address,
        "exact": exact,
        "public": public,
        "approximate": help_request.location_precision == "area",
        "source": SOURCE_LABELS.get(help_request.source, help_request.source),
        "entered_by": people.get(help_request.entered_by_id),
        "claimant": claimant,
        "claimant_phone": _national(claimant.phone) if claimant else "",
        "lease_until": _when(help_request.lease_expires_at) if status == "claimed" else "",
    }


def _events(request_id):
    return [
        {
            **event,
            "when": _when(event["created_at"]),
            "from_label": STATUS_LABELS.get(event["from_status"], event["from_status"] or ""),
            "to_label": STATUS_LABELS.get(event["to_status"], event["to_status"]),
            "actor_label": ACTOR_LABELS.get(event["actor_kind"], event["actor_kind"]),
        }
        for event in assign.request_events(request_id)
    ]


def _reports(request_id):
    """Unresolved reports (by reason), their newest comments, and unresolved flags."""
    ids = [request_id]
    by_reason = moderation._report_details(ids).get(request_id, {})
    return {
        "by_reason": [
            (REASON_LABELS.get(reason, reason), count)
            for reason, count in sorted(by_reason.items())
        ],
        "total": sum(by_reason.values()),
        "comments": moderation._comments(ids).get(request_id, []),
        "flags": moderation._flags(ids).get(request_id, []),
    }


def _candidates(help_request, now):
    assignable, items = assign.suitable_volunteers(help_request, CANDIDATES_SHOWN, now)
    for item in items:
        item["phone_display"] = _national(item["phone"])
        item["matching_labels"] = [
            CATEGORY_LABELS.get(name, name) for name in item["matching_categories"]
        ]
    return assignable, items


@bp.get(f"/requests/{REQUEST_ID}")
@console_page
def request_page(user, request_id):
    """Everything about one request in the caller's areas, and whom to send."""
    try:
        help_request = assign.load_request(request_id, user)
    except (NotFound, Forbidden):
        return not_found_page()
    # The page shows the contact details: only as privacy allows, and logged.
    if privacy.view_for(help_request, Viewer(user, channel="page")) != PRIVATE:
        return not_found_page()
    now = clock.now()
    assignable, candidates = _candidates(help_request, now)
    return render_template(
        "console/request.html",
        title=_("Request #%(id)s", id=request_id),
        need=_need(help_request, now),
        events=_events(request_id),
        reports=_reports(request_id),
        assignable=assignable,
        candidates=candidates,
        # Moderation forms (coordination.moderation.views) come back here after acting.
        here=url_for("console.request_page", request_id=request_id),
    )


def _not_assigned(error, _user, request_id):
    """Back to the request with what stood in the way (a page when it is not in your areas)."""
    if isinstance(error, (NotFound, Forbidden)):
        return not_found_page()
    flash(_assign_problem(error), "error")
    return redirect(url_for("console.request_page", request_id=request_id))


@bp.post(f"/requests/{REQUEST_ID}/assign")
@console_page
@when_refused(_not_assigned)
def assign_page(user, request_id):
    """Give the request to the chosen volunteer; back to the request with what happened."""
    back = redirect(url_for("console.request_page", request_id=request_id))
    form = AssignForm()
    if not form.validate_on_submit():
        flash(_("Choose a volunteer from the list to assign."), "error")
        return back
    assign.assign_volunteer(request_id, form.volunteer_id.data, user, form.reason.data or None)
    flash(_("Assigned. The volunteer has been told and now holds the claim."), "success")
    return back


def _assign_problem(error):
    """What to tell a coordinator whose assignment did not go through."""
    if isinstance(error, ClaimConflict):
        return _("Someone took this request meanwhile, or it is no longer open.")
    if isinstance(error, assign.NotSuitable):
        return str(
            NOT_SUITABLE_MESSAGES.get(
                error.details.get("reason"), _("This volunteer cannot take this request now.")
            )
        )
    if isinstance(error, assign.UnknownVolunteer):
        return _("There is no such volunteer.")
    return _("The assignment did not go through. Please try again.")
