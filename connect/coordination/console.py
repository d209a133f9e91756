"""The coordinator console's page blueprint and its guard; the pages live beside it."""

from flask import Blueprint, current_app, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from connect.accounts.auth import current_user
from connect.accounts.models import STAFF_ROLES
from connect.areas.models import Area
from connect.areas.services import coordinator_area_ids
from connect.extensions import db
from connect.web.access import role_required

bp = Blueprint("console", __name__, url_prefix="/console")


# Pages for coordinators and admins: others log in first (a form comes back to the console),
# or are told it is not theirs.
console_page = role_required(
    *sorted(STAFF_ROLES),
    after_post="console.index",
    title=_l("For coordinators"),
    message=_l("This page is for coordinators and admins."),
)


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
        names = (
            [area.name for area in db.session.query(Area).filter(Area.id.in_(ids))] if ids else []
        )
        scope = ", ".join(names) or _("No area yet: ask an admin to grant you one")
    return {"console_endpoints": set(current_app.view_functions), "console_scope": scope}


@bp.get("")
@console_page
def index(user):
    """The console opens on the map."""
    return redirect(url_for("console.map_page"))
