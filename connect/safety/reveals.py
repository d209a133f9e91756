"""Reading the contact reveal log, which connect.requests.privacy writes: who may, what it says."""
from sqlalchemy import func, select

from connect.accounts.models import User
from connect.areas.services import may_coordinate
from connect.extensions import db
from connect.requests.models import ContactReveal
from connect.requests.queries import is_requester


def may_read_log(help_request, user=None, manage_token=None):
    """The requester and the coordinators of the request may read its reveal log."""
    return (is_requester(help_request, user, manage_token)
            or may_coordinate(user, help_request.id))


def short_name(name):
    """The given name only: the last word of a Vietnamese full name."""
    words = (name or "").split()
    return words[-1] if words else ""


def reveals_of(request_id, limit=200):
    """The reveal log of a request, newest first, naming each viewer by given name only."""
    rows = db.session.execute(
        select(ContactReveal, User.name).join(User, User.id == ContactReveal.viewer_id)
        .where(ContactReveal.request_id == request_id)
        .order_by(ContactReveal.created_at.desc(), ContactReveal.id.desc())
        .limit(limit)).all()
    return [{"viewer_id": reveal.viewer_id, "viewer_name": short_name(name),
             "role": reveal.viewer_role, "channel": reveal.channel, "at": reveal.created_at}
            for reveal, name in rows]


def reveal_summary(request_id):
    """One line per person who saw the contact details: given name, role, first and last
    time, number of logged views; the earliest first."""
    r = ContactReveal
    rows = db.session.execute(
        select(r.viewer_id, r.viewer_role, User.name, func.min(r.created_at),
               func.max(r.created_at), func.count(r.id))
        .join(User, User.id == r.viewer_id)
        .where(r.request_id == request_id)
        .group_by(r.viewer_id, r.viewer_role, User.name)
        .order_by(func.min(r.created_at), r.viewer_id)).all()
    return [{"viewer_name": short_name(name), "role": role, "first_at": first,
             "last_at": last, "views": views}
            for _viewer, role, name, first, last, views in rows]
