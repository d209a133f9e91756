"""Who is calling: bearer tokens and cookie sessions (connect.web.access checks them)."""

from flask import g, request, session
from sqlalchemy import select

from connect.accounts.models import ApiToken, User, hash_secret
from connect.errors import Unauthorized
from connect.extensions import db
from connect.web.identity import set_user_loader

_UNSET = object()


def current_user():
    """The user behind the request's bearer token, or None; a bad token is an error."""
    user = g.get("_current_user", _UNSET)
    if user is not _UNSET:
        return user
    header = request.headers.get("Authorization", "")
    user = None
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(
                "Send the token as: Authorization: Bearer <token>.", code="invalid_token"
            )
        row = db.session.execute(
            select(ApiToken).where(
                ApiToken.token_hash == hash_secret(token.strip()), ApiToken.revoked_at.is_(None)
            )
        ).scalar_one_or_none()
        if row is None or row.user.disabled_at is not None:
            raise Unauthorized("The token is not valid or has been revoked.", code="invalid_token")
        user = row.user
        g._current_token = row
    elif _session_allowed():
        user = _session_user()
    g._current_user = user
    return user


def _session_allowed():
    # Pages log in with a cookie session (their forms carry CSRF tokens). The JSON API takes
    # the cookie for reads only, so a cross-site form can never act through it.
    return not request.path.startswith("/api/") or request.method in ("GET", "HEAD")


def _session_user():
    user_id = session.get("user_id")
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    if (
        user is None
        or user.disabled_at is not None
        or session.get("auth_stamp") != user.password_hash[-16:]
    ):
        # Changing the password (or disabling the account) ends every other session.
        session.pop("user_id", None)
        return None
    return user


def log_in(user):
    """Start a cookie session for the pages (a fresh one: no fixation), keeping the language."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session["user_id"] = user.id
    session["auth_stamp"] = user.password_hash[-16:]
    session.permanent = True
    g._current_user = user


def log_out():
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    g._current_user = None


def current_token():
    current_user()
    return g.get("_current_token")


def init_app(app):
    """Tell the web plumbing (rate limits, idempotency, access checks) who is calling."""
    set_user_loader(app, current_user)
