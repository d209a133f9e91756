"""Volunteer profile endpoints."""

from flask_smorest import Blueprint

from connect.accounts.services import get_profile
from connect.errors import NotFound
from connect.requests.queries import active_claims
from connect.volunteers import services
from connect.volunteers.schemas import VolunteerProfileSchema, VolunteerSchema
from connect.web.access import require_user

bp = Blueprint(
    "volunteers", __name__, url_prefix="/api/v1/volunteers", description="Volunteer profiles"
)


@bp.route("/me", methods=["PUT"])
@bp.arguments(VolunteerProfileSchema)
@bp.response(200, VolunteerSchema)
def put_me(args):
    """Become a volunteer, or update where you are, how far you go and what you bring."""
    user = require_user()
    return _with_claims(services.save_profile(user, args), user)


@bp.route("/me", methods=["GET"])
@bp.response(200, VolunteerSchema)
def get_me():
    """Your volunteer profile."""
    user = require_user()
    profile = get_profile(user)
    if profile is None:
        raise NotFound("You have no volunteer profile yet.", code="not_a_volunteer")
    return _with_claims(profile, user)


def _with_claims(profile, user):
    profile.active_claims = active_claims(user.id)
    return profile
