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
    session,
    url_for,
)
from flask_babel import format_datetime, format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from connect import clock
from connect.accounts.auth import current_user
from connect.requests import editing, phones, privacy, queries, services, sms_links
from connect.requests.categories import LABELS as CATEGORY_LABELS
from connect.requests.forms import HelpRequestForm, local_phone, places
from connect.requests.phones import DuplicateRequest, PhoneBlocked
from connect.requests.privacy import PRIVATE, Viewer
from connect.requests.schemas import RequestCreateSchema, RequestEditSchema
from connect.requests.state import ACTIVE, CONFIRMABLE
from connect.spatial import latlon
from connect.web import ratelimits
from connect.web.boundary import when_refused
from connect.web.pages import answer_expired_forms

bp = Blueprint("resident", __name__)
# A form posted from a stale page (or with cookies off): the residents' page in words.
answer_expired_forms(bp, template="resident/error.html")

FINAL = ("confirmed", "cancelled", "expired", "hidden")
CLOSED_MESSAGE = _l("This request is closed, so it can no longer be changed.")
# Manage tokens of the requests posted from this browser, kept in its session (signed
# cookie): /need-help offers them back, and recognises a repeat post as its own.
MY_REQUESTS_KEY = "my_requests"
MY_REQUESTS_KEPT = 5


@bp.route("/need-help", methods=["GET", "POST"])
@ratelimits.post_per_ip
@ratelimits.post_per_phone
def new_request():
    """Post a request: the same rules and service as the API, answers kept on an error."""
    form = HelpRequestForm()
    if form.validate_on_submit():
        data = form.load_into(RequestCreateSchema())
        if data is not None:
            try:
                _posted, token = services.post_request(
                    data,
                    requester=current_user(),
                    source="web",
                    manage_tokens=_remembered_tokens(),
                )
            except DuplicateRequest as exc:
                # Only a request this browser posted is named (and linked); anyone else
                # just learns to use the link they got when posting.
                return _new_request_page(form, duplicate={"token": exc.owner_token})
            except PhoneBlocked:
                form.phone.errors = [*form.phone.errors, PhoneBlocked.page_message]
                return _new_request_page(form)
            remember_token(token)
            flash(_("Your request is posted. Volunteers near you can see it now."), "success")
            return redirect(url_for(".manage", token=token))
    return _new_request_page(form)


@bp.get("/m/<token>")
def manage(token):
    """The requester's page: status, what was asked, the private link, what they can do."""
    help_request = by_manage_link(token)
    status = queries.effective_status(help_request)
    # Hidden by reports and not yet reviewed; a page still open when that happens says so too.
    for_review = status != "hidden" or phones.held_for_review(help_request)
    return keep_private(
        render_template(
            "resident/manage.html",
            help_request=help_request,
            token=token,
            # Open again after a claim ended unhelped: "the volunteer could not come".
            status=_shown_status(help_request, status),
            manage_url=url_for(".manage", token=token, _external=True),
            can_change=status in ACTIVE,
            can_confirm=status in CONFIRMABLE,
            final=status in FINAL and not (status == "hidden" and for_review),
            hidden_for_review=for_review,
            category_labels=CATEGORY_LABELS,
            phone=local_phone(help_request.phone),
            phone_verified=sms_links.phone_proven(help_request),
            posted_ago=format_timedelta(help_request.created_at - clock.now(), add_direction=True),
            seen_by=_seen_by(help_request),
        )
    )


def _closed_now(_error, token):
    """The request closed while the page was open: nothing changed, and the page says so."""
    return _closed(token)


@bp.route("/m/<token>/edit", methods=["GET", "POST"])
@ratelimits.edits_per_ip
@when_refused(_closed_now)
def edit(token):
    help_request = by_manage_link(token)
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
                    editing.edit_request(help_request.id, data, current_user(), token)
                except DuplicateRequest:
                    form.phone.errors = [
                        *form.phone.errors,
                        _(
                            "Another open request already has this phone number. Write another "
                            "number, or change that request instead."
                        ),
                    ]
                    return keep_private(_form_page("resident/edit.html", form, token=token))
                except PhoneBlocked:
                    form.phone.errors = [*form.phone.errors, PhoneBlocked.page_message]
                    return keep_private(_form_page("resident/edit.html", form, token=token))
                flash(_("Your changes are saved."), "success")
                return redirect(url_for(".manage", token=token))
    return keep_private(_form_page("resident/edit.html", form, token=token))


@bp.route("/m/<token>/cancel", methods=["GET", "POST"])
@when_refused(_closed_now)
def cancel(token):
    """GET asks "are you sure?"; POST cancels."""
    help_request = by_manage_link(token)
    if queries.effective_status(help_request) not in ACTIVE:
        return _closed(token)
    if request.method == "GET":
        return keep_private(
            render_template("resident/cancel.html", token=token, help_request=help_request)
        )
    services.cancel_request(
        help_request.id, current_user(), token, "cancelled by the requester on the web"
    )
    flash(_("Your request is cancelled. Volunteers no longer see it."), "success")
    return redirect(url_for(".manage", token=token))


@bp.post("/m/<token>/confirm")
@when_refused(_closed_now)
def confirm(token):
    """The requester says they were helped."""
    help_request = by_manage_link(token)
    if queries.effective_status(help_request) == "open":
        return _closed(
            token, _("There is nothing to confirm yet: no volunteer has taken your request.")
        )
    services.confirm_helped(help_request.id, current_user(), token)
    flash(_("Thank you! We counted your neighbour\u2019s help."), "success")
    return redirect(url_for(".manage", token=token))


@bp.post("/m/<token>/new-link")
@ratelimits.new_links_per_ip
def new_link(token):
    """Replace a manage link that was shared by mistake; the old one stops working."""
    help_request = by_manage_link(token)
    new_token = editing.new_manage_link(help_request.id, current_user(), token)[1]
    remembered = _remembered_tokens()
    if token in remembered:
        session[MY_REQUESTS_KEY] = [new_token if old == token else old for old in remembered]
    flash(_("This is your new link. The old one no longer works: save this one."), "success")
    return redirect(url_for(".manage", token=new_token))


# -- the short link texted to the phone (connect.requests.sms_links) --------------------


@bp.get("/s/<short>")
def sms_status(short):
    """Status, cancel and confirm for whoever holds the texted link; the requester's name and
    address only once the phone is proven (the number may have been mistyped)."""
    help_request = _by_sms_code(short)
    status = queries.effective_status(help_request)
    return keep_private(
        render_template(
            "resident/sms_status.html",
            help_request=help_request,
            short=short,
            status=_shown_status(help_request, status),
            can_change=status in ACTIVE,
            can_confirm=status in CONFIRMABLE,
            final=status in FINAL,
            hidden_for_review=status == "hidden" and phones.held_for_review(help_request),
            show_private=help_request.purged_at is None and sms_links.phone_proven(help_request),
            category_labels=CATEGORY_LABELS,
            posted_ago=format_timedelta(help_request.created_at - clock.now(), add_direction=True),
        )
    )


def _sms_closed(_error, short):
    flash(str(CLOSED_MESSAGE), "error")
    return redirect(url_for(".sms_status", short=short))


@bp.post("/s/<short>/cancel")
@when_refused(_sms_closed)
def sms_cancel(short):
    help_request = _by_sms_code(short)
    services.cancel_by_phone(help_request.id, help_request.phone)
    flash(_("The request is cancelled. Volunteers no longer see it."), "success")
    return redirect(url_for(".sms_status", short=short))


@bp.post("/s/<short>/confirm")
@when_refused(_sms_closed)
def sms_confirm(short):
    help_request = _by_sms_code(short)
    services.confirm_by_phone(help_request.id, help_request.phone)
    flash(_("Thank you! We counted your neighbour\u2019s help."), "success")
    return redirect(url_for(".sms_status", short=short))


def _by_sms_code(short):
    help_request = sms_links.find(short)
    if help_request is None:
        abort(404)
    return help_request


# -- helpers ---------------------------------------------------------------------------


def _seen_by(help_request):
    """Who was shown the requester's contact details, in the words the manage page prints."""
    roles = {
        "claimant": _("Volunteer"),
        "coordinator": _("Coordinator"),
        "admin": _("Administrator"),
    }
    return [
        {
            **seen,
            "role_label": roles.get(seen["role"], seen["role"]),
            "first": format_datetime(seen["first_at"], "short"),
            "last": format_datetime(seen["last_at"], "short"),
        }
        for seen in privacy.reveal_summary(help_request.id)
    ]


def _remembered_tokens():
    tokens = session.get(MY_REQUESTS_KEY)
    if not isinstance(tokens, list):
        return []
    return [token for token in tokens if isinstance(token, str)][:MY_REQUESTS_KEPT]


def remember_token(token):
    kept = [token, *(old for old in _remembered_tokens() if old != token)]
    session[MY_REQUESTS_KEY] = kept[:MY_REQUESTS_KEPT]


def _my_open_requests():
    """This browser's open or claimed requests, newest first; forgets tokens that no longer
    open anything (a new link was made)."""
    tokens, found, kept = _remembered_tokens(), [], []
    for token in tokens:
        help_request = queries.find_by_manage_token(token)
        if help_request is None:
            continue
        kept.append(token)
        if queries.effective_status(help_request) in ACTIVE:
            found.append(
                {
                    "token": token,
                    "categories": [
                        CATEGORY_LABELS.get(name, name) for name in help_request.categories
                    ],
                    "posted_ago": format_timedelta(
                        help_request.created_at - clock.now(), add_direction=True
                    ),
                }
            )
    if kept != tokens:
        session[MY_REQUESTS_KEY] = kept
    return found


def _new_request_page(form, duplicate=None):
    mine = _my_open_requests()
    page, status = _form_page(
        "resident/new_request.html",
        form,
        duplicate=duplicate,
        my_requests=mine,
        hotline=current_app.config["HOTLINE"],
    )
    response = make_response(page, 409 if duplicate else status)
    # The links to this browser's requests carry their manage tokens.
    return keep_private(response) if mine or duplicate else response


def by_manage_link(token):
    """The request this manage link opens, all of it for its holder (privacy); else 404."""
    help_request = queries.find_by_manage_token(token)
    if (
        help_request is None
        or privacy.view_for(help_request, Viewer(current_user(), token, "page")) != PRIVATE
    ):
        abort(404)
    return help_request


def _form_page(template, form, **context):
    status = 422 if form.errors else 200
    return render_template(template, form=form, places=places(), **context), status


def _closed(token, message=None):
    flash(message or str(CLOSED_MESSAGE), "error")
    return redirect(url_for(".manage", token=token))


def _shown_status(help_request, status):
    """The status a requester's page shows: open again after a claim ended unhelped says
    "the volunteer could not come"."""
    if status == "open" and queries.reopened_after_claim(help_request):
        return "reopened"
    return status


def keep_private(result):
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
    return keep_private(render_template("resident/not_found.html")), 404
