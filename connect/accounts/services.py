"""Account rules: registration, passwords, tokens, staff accounts, volunteer profiles."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import select, update

from connect import clock
from connect.accounts.models import (
    ROLES,
    ApiToken,
    User,
    Volunteer,
    hash_secret,
    new_secret,
)
from connect.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from connect.extensions import db


class NotAVolunteer(Forbidden):
    """The caller has no volunteer profile yet."""

    code = "not_a_volunteer"
    message = "Set up your volunteer profile first (PUT /api/v1/volunteers/me)."


_hasher = PasswordHasher()
# Verifying against this keeps a login for an unknown phone as slow as for a known one.
_DUMMY_HASH = _hasher.hash("not a real password")


def register_user(phone, password, name, role="resident"):
    """Create an account; phones are unique."""
    if role not in ROLES:
        raise ValidationFailed(details={"fields": {"role": [f"One of {', '.join(ROLES)}."]}})
    if db.session.execute(select(User.id).where(User.phone == phone)).first():
        raise Conflict("An account with this phone number already exists.", code="phone_taken")
    user = User(phone=phone, name=name, password_hash=_hasher.hash(password), role=role)
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(phone, password):
    """The user with this phone and password, or Unauthorized (same answer for both faults)."""
    user = db.session.execute(select(User).where(User.phone == phone)).scalar_one_or_none()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, InvalidHashError):
        user = None
    if user is None or user.disabled_at is not None:
        raise Unauthorized("Wrong phone number or password.", code="invalid_credentials")
    return user


def issue_token(user):
    """A new bearer token for the user; only its hash is stored."""
    token = new_secret()
    db.session.add(ApiToken(user_id=user.id, token_hash=hash_secret(token)))
    db.session.flush()
    return token


def revoke_token(token_row):
    token_row.revoked_at = clock.now()
    db.session.flush()


def set_password(user, password):
    # A new hash ends every cookie session made with the old one (auth.log_in's stamp).
    user.password_hash = _hasher.hash(password)
    db.session.flush()


def account_with_phone(phone):
    """The enabled account of this phone, or None."""
    return db.session.execute(
        select(User).where(User.phone == phone, User.disabled_at.is_(None))
    ).scalar_one_or_none()


def reset_password(user, password):
    """A new password for someone who proved the phone: every session and token ends."""
    set_password(user, password)
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    db.session.flush()


def get_profile(user, for_update=False):
    query = select(Volunteer).where(Volunteer.user_id == user.id)
    if for_update:
        # Serialises one volunteer's concurrent claims so capacity holds (PostgreSQL).
        query = query.with_for_update(of=Volunteer)
    return db.session.execute(query).scalar_one_or_none()


def require_profile(user, for_update=False):
    profile = get_profile(user, for_update)
    if profile is None:
        raise NotAVolunteer()
    return profile
