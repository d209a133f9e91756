"""The "Báo xấu" page: report a request seen in a list, on the map or while helping."""
from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from connect.web import ratelimits
from connect.accounts.auth import current_user
from connect.accounts.views import safe_next
from connect.errors import ConnectError
from connect.extensions import db
from connect.requests.forms import CATEGORY_LABELS
from connect.requests.queries import get_request, is_requester
from connect.safety import reports
from connect.safety.forms import ReportForm

bp = Blueprint("reports", __name__)


@bp.route("/requests/<int(max=2147483647):request_id>/report", methods=["GET", "POST"])
@ratelimits.reports_per_account
def report_request(request_id):
    """A reason and an optional comment; signed-in accounts only, each counted once."""
    asked_next = safe_next(request.values.get("next"))
    back = asked_next or url_for("pages.home")
    user = current_user()
    if user is None:
        here = url_for(".report_request", request_id=request_id, next=asked_next)
        return redirect(url_for("account.login", next=here))
    help_request = get_request(request_id)
    if is_requester(help_request, user):
        return _message(_("This is your own request"), _(
            "To change or cancel it, open the link you got when you posted it."), back, 403)
    if help_request.status not in reports.REPORTABLE_REQUEST_STATUSES:
        return _message(_("This request is closed"), _(
            "It is no longer shown to anyone, so there is nothing to report."), back, 409)
    form = ReportForm()
    if request.method == "GET":
        form.next.data = asked_next or ""
    if form.validate_on_submit():
        try:
            reports.report("request", request_id, user, form.reason.data,
                           form.comment.data or None)
        except reports.AlreadyReported:
            db.session.rollback()
            flash(_("You have already reported this request. Thank you: a coordinator will "
                    "look at it."), "info")
        except ConnectError:  # closed or hidden for good meanwhile
            db.session.rollback()
            flash(_("This request can no longer be reported."), "error")
        else:
            flash(_("Thank you for telling us. A coordinator will look at this request."),
                  "success")
        return redirect(back)
    need = {"urgency": help_request.urgency, "description": help_request.description,
            "category_labels": [CATEGORY_LABELS.get(name, name)
                                for name in help_request.categories]}
    return render_template("safety/report.html", form=form, need=need, back=back,
                           request_id=request_id), 422 if form.errors else 200


@bp.errorhandler(ConnectError)
def problem(error):
    """A wrong link or a busy database, in words."""
    if error.status == 404:
        return _message(_("Not found"), _("We could not find this request. It may have been "
                                          "removed."), url_for("pages.home"), 404)
    return _message(_("Something went wrong"), _("Please go back and try again."),
                    url_for("pages.home"), error.status)


def _message(title, message, back, status):
    return make_response(render_template(
        "account/message.html", title=title, message=message, link_url=back,
        link_text=_("Go back")), status)
