"""The "Báo xấu" page: report a request seen in a list, on the map or while helping."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from connect.accounts.views import safe_next
from connect.errors import ConnectError
from connect.requests.categories import LABELS as CATEGORY_LABELS
from connect.requests.queries import get_request, is_requester
from connect.requests.state import MODERATED
from connect.safety import reports
from connect.safety.forms import ReportForm
from connect.web import ratelimits
from connect.web.access import signed_in
from connect.web.boundary import when_refused
from connect.web.pages import message_page, problem_page

bp = Blueprint("reports", __name__)


def _report_page(request_id):
    """This report form, and where it goes back to afterwards."""
    return url_for(
        ".report_request", request_id=request_id, next=safe_next(request.values.get("next"))
    )


def _report_back():
    return safe_next(request.values.get("next")) or url_for("home.index")


def _not_reported(error, _user, **_view_args):
    if isinstance(error, reports.AlreadyReported):
        flash(
            _("You have already reported this request. Thank you: a coordinator will look at it."),
            "info",
        )
    else:  # closed or hidden for good meanwhile
        flash(_("This request can no longer be reported."), "error")
    return redirect(_report_back())


@bp.route("/requests/<int(max=2147483647):request_id>/report", methods=["GET", "POST"])
@ratelimits.reports_per_account
@signed_in(back=_report_page)
def report_request(user, request_id):
    """A reason and an optional comment; signed-in accounts only, each counted once."""
    asked_next = safe_next(request.values.get("next"))
    back = _report_back()
    help_request = get_request(request_id)
    if is_requester(help_request, user):
        return _message(
            _("This is your own request"),
            _("To change or cancel it, open the link you got when you posted it."),
            back,
            403,
        )
    if help_request.status not in MODERATED:
        return _message(
            _("This request is closed"),
            _("It is no longer shown to anyone, so there is nothing to report."),
            back,
            409,
        )
    form = ReportForm()
    if request.method == "GET":
        form.next.data = asked_next or ""
    if form.validate_on_submit():
        return _send_report(user, request_id=request_id, form=form, back=back)
    need = {
        "urgency": help_request.urgency,
        "description": help_request.description,
        "category_labels": [CATEGORY_LABELS.get(name, name) for name in help_request.categories],
    }
    return render_template(
        "safety/report.html", form=form, need=need, back=back, request_id=request_id
    ), 422 if form.errors else 200


@when_refused(_not_reported)  # any refusal of the report itself: closed or hidden meanwhile
def _send_report(user, request_id, form, back):
    reports.report("request", request_id, user, form.reason.data, form.comment.data or None)
    flash(_("Thank you for telling us. A coordinator will look at this request."), "success")
    return redirect(back)


@bp.errorhandler(ConnectError)
def problem(error):
    """A wrong link or a busy database, in words."""
    return problem_page(
        error,
        {404: (_("Not found"), _("We could not find this request. It may have been removed."))},
        url_for("home.index"),
    )


def _message(title, message, back, status):
    return message_page(title, message, back, _("Go back"), status)
