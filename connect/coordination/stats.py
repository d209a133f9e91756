"""Aggregate counts for the public and for coordinators, computed from stored history."""
from sqlalchemy import func, select

from connect.extensions import db
from connect.requests.models import STATUSES, HelpRequest, RequestEvent


def public_stats():
    """Requests by status and assists helped/confirmed: counts only, never a person."""
    by_status = dict.fromkeys(STATUSES, 0)
    by_status.update(db.session.execute(
        select(HelpRequest.status, func.count()).group_by(HelpRequest.status)).all())
    # Counted from events, so a later purge of personal data cannot change them.
    transitions = dict(db.session.execute(
        select(RequestEvent.to_status, func.count(func.distinct(RequestEvent.request_id)))
        .where(RequestEvent.to_status.in_(("helped", "confirmed")))
        .group_by(RequestEvent.to_status)).all())
    helped_or_confirmed = db.session.execute(
        select(func.count(func.distinct(RequestEvent.request_id)))
        .where(RequestEvent.to_status.in_(("helped", "confirmed")))).scalar_one()
    return {
        "requests": {"total": sum(by_status.values()), "by_status": by_status},
        "assists": {
            "helped": helped_or_confirmed,
            "confirmed": transitions.get("confirmed", 0),
        },
    }
