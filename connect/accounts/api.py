"""Account endpoints: register, get a token, revoke it, who am I."""

from flask_smorest import Blueprint

from connect.accounts import services
from connect.accounts.auth import current_token
from connect.accounts.schemas import (
    RegisterSchema,
    TokenRequestSchema,
    TokenSchema,
    UserSchema,
)
from connect.web import ratelimits
from connect.web.access import require_user

bp = Blueprint(
    "auth", __name__, url_prefix="/api/v1/auth", description="Accounts and bearer tokens"
)


@bp.route("/register", methods=["POST"])
@ratelimits.register_per_ip
@bp.arguments(RegisterSchema)
@bp.response(201, UserSchema)
def register(args):
    """Create a resident account."""
    return services.register_user(args["phone"], args["password"], args["name"])


@bp.route("/token", methods=["POST"])
@ratelimits.login_per_ip
@ratelimits.login_per_phone
@bp.arguments(TokenRequestSchema)
@bp.response(200, TokenSchema)
def create_token(args):
    """Exchange phone and password for a bearer token."""
    user = services.authenticate(args["phone"], args["password"])
    return {"token": services.issue_token(user), "user_id": user.id, "role": user.role}


@bp.route("/token", methods=["DELETE"])
@bp.response(204)
def revoke_token():
    """Revoke the token this request was made with."""
    require_user()
    services.revoke_token(current_token())


@bp.route("/me", methods=["GET"])
@bp.response(200, UserSchema)
def me():
    """The calling user's account."""
    return require_user()
