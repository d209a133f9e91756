"""The hotline intake page: an operator on the phone enters a caller's request.

One page, three answers: the form (again with friendly errors or a duplicate warning), the
result of the early phone check, and the confirmation with the manage link for the caller.
"""

from datetime import datetime

from flask import make_response, render_template, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from connect import clock
from connect.coordination.console import bp, console_page
from connect.coordination.intake import services as intake
from connect.coordination.intake.forms import IntakeForm
from connect.requests.categories import LABELS as CATEGORY_LABELS
from connect.requests.forms import local_phone
from connect.requests.phones import DuplicateRequest, PhoneBlocked
from connect.requests.schemas import RequestCreateSchema
from connect.requests.sms_links import texted as texted_link
from connect.validation import normalise_phone
from connect.web import ratelimits
from connect.web.boundary import when_refused

STATUS_LABELS = {"open": _l("Open"), "claimed": _l("Claimed")}


def _refused(error, _user):
    """A refusal shown at the answer it is about, on the form as sent (never a bare error
    page); a phone that already has a request is the phone check's answer."""
    form = IntakeForm()
    if isinstance(error, DuplicateRequest):
        checking = "check_phone" in request.form
        return _page(form, 200 if checking else 409, same_phone=_same_phone(error))
    if isinstance(error, intake.PossibleDuplicate):
        return _page(form, 409, nearby=[_nearby_row(item) for item in error.details["nearby"]])
    if isinstance(error, intake.OutsideYourAreas):
        form.lat.errors = [
            *form.lat.errors,
            _(
                "This place is outside the areas you coordinate. Check the point, or pass the "
                "call to a coordinator of that area."
            ),
        ]
    elif isinstance(error, PhoneBlocked):
        form.phone.errors = [
            *form.phone.errors,
            _(
                "This phone number was blocked by moderation, so no request can be posted for "
                "it. If the caller really needs help, talk to an admin."
            ),
        ]
    else:
        return _page(form, error.status, problem=error.message)
    return _page(form, error.status)


@bp.route("/intake", methods=["GET", "POST"], endpoint="intake")
@ratelimits.intake_per_account
@console_page
@when_refused(_refused)
def intake_page(user):
    """Enter a caller's request; warn of duplicates before posting."""
    form = IntakeForm()
    if request.method == "GET":
        return _page(form)
    if "check_phone" in request.form:
        return _check_phone(user, form)
    if not form.validate_on_submit():
        return _page(form, 422)
    data = form.load_into(RequestCreateSchema())
    if data is None:
        return _page(form, 422)
    help_request, _token = intake.enter_request(user, data, form.confirm_duplicate.data)
    return _done(help_request)


def _check_phone(user, form):
    """Only the phone: tell the operator at once whether it already has an open request."""
    if not form.phone_only_valid():
        return _page(form, 422)
    intake.check_phone(user, normalise_phone(form.phone.data))
    return _page(form, 200, phone_free=True)


def _same_phone(exc):
    """What the warning says about the phone's open request: its id when the caller
    coordinates it, else only that one exists (in another area)."""
    request_id = (exc.details or {}).get("request_id")
    return {"id": request_id, "url": _request_url(request_id) if request_id else None}


def _nearby_row(item):
    created = datetime.fromisoformat(item["created_at"].rstrip("Z"))
    return {
        **item,
        "url": _request_url(item["id"]),
        "category_labels": [CATEGORY_LABELS.get(name, name) for name in item["categories"]],
        "status_label": STATUS_LABELS.get(item["status"], item["status"]),
        "posted_ago": format_timedelta(created - clock.now(), add_direction=True),
    }


def _request_url(request_id):
    # The console's request detail page (/console/requests/<id>).
    return f"{url_for('console.index')}/requests/{request_id}"


def _page(form, status=200, **context):
    return make_response(
        render_template("console/intake.html", title=_("Hotline intake"), form=form, **context),
        status,
    )


def _done(help_request):
    """The confirmation: the caller is texted their request number and link (nothing to read
    out); a number that asked for no texts is told its request number instead."""
    response = make_response(
        render_template(
            "console/intake.html",
            title=_("Hotline intake"),
            done=help_request,
            texted=texted_link(help_request.id),
            request_url=_request_url(help_request.id),
            phone=local_phone(help_request.phone),
            category_labels=[CATEGORY_LABELS.get(name, name) for name in help_request.categories],
        )
    )
    # The page names the caller and their number: never cache it or send it on as a referrer.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
