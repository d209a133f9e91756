"""The coordinator console's page blueprint and its guard; the pages live beside it."""
from functools import wraps

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from connect.accounts.auth import current_user
from connect.areas.models import Area
from connect.areas.services import coordinator_area_ids
from connect.extensions import db

bp = Blueprint("console", __name__, url_prefix="/console")


def console_page(view):
    """Pages for coordinators and admins: others log in first, or are told it is not theirs."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        user = current_user()
        if user is None:
            back = (request.full_path.rstrip("?") if request.method == "GET"
                    else url_for("console.index"))
            return redirect(url_for("account.login", next=back))
        if user.role not in ("coordinator", "admin"):
            return render_template(
                "account/message.html", title=_("For coordinators"),
                message=_("This page is for coordinators and admins.")), 403
        return view(user, *args, **kwargs)

    return wrapped


@bp.app_context_processor
def _console_context():
    # The console nav shows the pages that exist, and whose areas the caller sees.
    if not (request.endpoint or "").startswith("console."):
        return {}
    user = current_user()
    if user is None:
        return {}
    if user.role == "admin":
        scope = _("All areas")
    else:
        ids = coordinator_area_ids(user.id)
        names = [area.name for area in db.session.query(Area).filter(Area.id.in_(ids))] \
            if ids else []
        scope = ", ".join(names) or _("No area yet: ask an admin to grant you one")
    return {"console_endpoints": set(current_app.view_functions), "console_scope": scope}


@bp.get("")
@console_page
def index(user):
    """The console opens on the map."""
    return redirect(url_for("console.map_page"))
