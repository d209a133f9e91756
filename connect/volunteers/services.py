"""Volunteer profile rules."""

from connect import clock
from connect.accounts.models import Volunteer
from connect.accounts.services import get_profile
from connect.areas.services import place_volunteer
from connect.extensions import db
from connect.spatial import point


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
    profile.sms_alerts = data.get("sms_alerts", bool(profile.sms_alerts))
    profile.updated_at = clock.now()
    if user.role == "resident":
        user.role = "volunteer"
    db.session.flush()
    place_volunteer(profile.id, data["location"]["lat"], data["location"]["lon"])
    return profile
