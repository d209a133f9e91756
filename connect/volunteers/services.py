"""Volunteer profile rules."""
from sqlalchemy import select

from connect import clock
from connect.coordination.areas import place_volunteer
from connect.errors import Forbidden
from connect.extensions import db
from connect.spatial import point
from connect.volunteers.models import Volunteer


def get_profile(user, for_update=False):
    query = select(Volunteer).where(Volunteer.user_id == user.id)
    if for_update:
        # Serialises one volunteer's concurrent claims so capacity holds (PostgreSQL).
        query = query.with_for_update(of=Volunteer)
    return db.session.execute(query).scalar_one_or_none()


def require_profile(user, for_update=False):
    profile = get_profile(user, for_update)
    if profile is None:
        raise Forbidden("Set up your volunteer profile first (PUT /api/v1/volunteers/me).",
                        code="not_a_volunteer")
    return profile


def save_profile(user, data):
    """Create or update the caller's volunteer profile; a resident becomes a volunteer."""
    profile = get_profile(user, for_update=True)
    if profile is None:
        profile = Volunteer(user_id=user.id)
        db.session.add(profile)
    profile.location = point(data["location"]["lat"], data["location"]["lon"])
    profile.radius_m = data["radius_m"]
    profile.categories = list(dict.fromkeys(data["categories"]))
    profile.on_duty = data["on_duty"]
    profile.capacity = data.get("capacity", profile.capacity or 1)
    profile.updated_at = clock.now()
    if user.role == "resident":
        user.role = "volunteer"
    db.session.flush()
    place_volunteer(profile.id, data["location"]["lat"], data["location"]["lon"])
    return profile
