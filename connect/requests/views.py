"""Resident pages: post a request, follow it with the private manage link."""
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_timedelta, gettext as _
from flask_wtf.csrf import CSRFError

from connect import clock
from connect.accounts.auth import current_user
from connect.errors import ConnectError
from connect.extensions import db, limiter
from connect.requests import queries, services
from connect.requests.forms import CATEGORY_LABELS, HelpRequestForm, local_phone, places
from connect.requests.schemas import RequestCreateSchema, RequestEditSchema
from connect.spatial import latlon

bp = Blueprint("resident", __name__)

ACTIVE = ("open", "claimed")
CONFIRMABLE = ("claimed", "helped")
FINAL = ("confirmed", "cancelled", "expired", "hidden")


@bp.route("/need-help", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"])
def new_request():
    """Post a request: the same rules and service as the API, answers kept on an error."""
    form = HelpRequestForm()
    if form.validate_on_submit():
        data = form.load_into(RequestCreateSchema())
        if data is not None:
            _posted, token = services.post_request(data, requester=current_user(),
                                                   source="web")
            flash(_("Your request is posted. Volunteers near you can see it now."), "success")
            return redirect(url_for(".manage", token=token))
    return _form_page("resident/new_request.html", form)


@bp.get("/m/<token>")
def manage(token):
    """The requester's page: status, what was asked, the private link, what they can do."""
    help_request = _by_token(token)
    status = queries.effective_status(help_request)
    return _private(render_template(
        "resident/manage.html", help_request=help_request, status=status, token=token,
        manage_url=url_for(".manage", token=token, _external=True),
        can_change=status in ACTIVE, can_confirm=status in CONFIRMABLE,
        final=status in FINAL, category_labels=CATEGORY_LABELS,
        phone=local_phone(help_request.phone),
        posted_ago=format_timedelta(help_request.created_at - clock.now(),
                                    add_direction=True)))


@bp.route("/m/<token>/edit", methods=["GET", "POST"])
def edit(token):
    help_request = _by_token(token)
    if queries.effective_status(help_request) not in ACTIVE:
        return _closed(token)
    if request.method == "GET":
        form = HelpRequestForm.for_request(help_request, *latlon(help_request.location))
    else:
        form = HelpRequestForm()
        if form.validate_on_submit():
            data = form.load_into(RequestEditSchema())
            if data is not None:
                try:
                    services.edit_request(help_request.id, data, current_user(), token)
                except ConnectError:
                    return _closed(token)
                flash(_("Your changes are saved."), "success")
                return redirect(url_for(".manage", token=token))
    return _private(_form_page("resident/edit.html", form, token=token))


@bp.route("/m/<token>/cancel", methods=["GET", "POST"])
def cancel(token):
    """GET asks "are you sure?"; POST cancels."""
    help_request = _by_token(token)
    if queries.effective_status(help_request) not in ACTIVE:
        return _closed(token)
    if request.method == "GET":
        return _private(render_template("resident/cancel.html", token=token,
                                        help_request=help_request))
    try:
        services.cancel_request(help_request.id, current_user(), token, "cancelled by the "
                                "requester on the web")
    except ConnectError:
        return _closed(token)
    flash(_("Your request is cancelled. Volunteers no longer see it."), "success")
    return redirect(url_for(".manage", token=token))


@bp.post("/m/<token>/confirm")
def confirm(token):
    """The requester says they were helped."""
    help_request = _by_token(token)
    if queries.effective_status(help_request) == "open":
        return _closed(token, _("There is nothing to confirm yet: no volunteer has taken "
                                "your request."))
    try:
        services.confirm_helped(help_request.id, current_user(), token)
    except ConnectError:
        return _closed(token)
    flash(_("Thank you! We counted your neighbour\u2019s help."), "success")
    return redirect(url_for(".manage", token=token))


# -- helpers ---------------------------------------------------------------------------

def _by_token(token):
    help_request = queries.find_by_manage_token(token)
    if help_request is None:
        abort(404)
    return help_request


def _form_page(template, form, **context):
    status = 422 if form.errors else 200
    return render_template(template, form=form, places=places(), **context), status


def _closed(token, message=None):
    db.session.rollback()
    flash(message or _("This request is closed, so it can no longer be changed."), "error")
    return redirect(url_for(".manage", token=token))


def _private(result):
    """The manage link is in the URL: never send it on as a referrer, cache or index it."""
    response = make_response(result)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


# -- friendly error pages (the JSON envelope is for the API) ----------------------------

@bp.errorhandler(404)
def not_found(_error):
    # One page for every wrong link: nothing tells whether a request exists.
    return _private(render_template("resident/not_found.html")), 404


@bp.errorhandler(CSRFError)
def form_expired(_error):
    current_app.logger.info("refused a resident form without a valid CSRF token")
    return render_template("resident/error.html", message=_(
        "This form could not be sent. Please go back, reload the page and try again.")), 400


@bp.errorhandler(429)
def too_many(_error):
    return render_template("resident/error.html", message=_(
        "Too many requests were sent from this phone. Please wait an hour and try "
        "again, or ask a neighbour to post for you.")), 429
