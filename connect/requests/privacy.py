"""Who sees what of a request or an offer (ARCHITECTURE, Privacy), and the reveal log."""

from dataclasses import dataclass
from datetime import timedelta
from functools import singledispatch

from flask import current_app, has_request_context, request
from sqlalchemy import exists, func, insert, select

from connect import clock
from connect.accounts.models import User
from connect.areas.services import may_coordinate
from connect.database import SAFE_METHODS
from connect.extensions import db
from connect.requests.models import ContactReveal, HelpRequest
from connect.requests.queries import holds_claim, is_requester

PUBLIC, PRIVATE = "public", "private"
CHANNELS = ("api", "page")
REQUESTER, CLAIMANT = "requester", "claimant"


@dataclass(frozen=True)
class Viewer:
    """Who is looking, and where: an account (or None), a manage link's token, API or page."""

    user: object = None
    manage_token: str | None = None
    channel: str = "api"


def view_for(subject, viewer):
    """PRIVATE (with the contact details) or PUBLIC: what this viewer gets of a request or an
    offer. Showing a request's contact details to anyone but its requester is logged."""
    why = why_shown(subject, viewer)
    if why is None:
        return PUBLIC
    # Only requests keep a reveal log (its rows name a help request). After a purge there is
    # no name, phone, address or exact point left to reveal.
    if isinstance(subject, HelpRequest) and why != REQUESTER and subject.purged_at is None:
        log_reveal(subject.id, viewer.user.id, why, viewer.channel)
    return PRIVATE


def may_see_contact(subject, viewer):
    """Whether view_for would show this viewer the contact details; logs nothing."""
    return why_shown(subject, viewer) is not None


# Offers live above requests: connect.offers.queries gives its rule at start (init_app), so
# the one decision covers them without an import upward; a kind with no rule is refused.
@singledispatch
def why_shown(subject, viewer):
    """Why the viewer may see the subject's contact details (who they are to it), or None."""
    raise TypeError(f"no privacy rule for {type(subject).__name__}")


@why_shown.register
def _why_request_shown(help_request: HelpRequest, viewer):
    """The requester (account or manage link), the volunteer holding the claim while it holds,
    and coordinators of the request's area and admins, by their role."""
    user = viewer.user
    if is_requester(help_request, user, viewer.manage_token):
        return REQUESTER
    if holds_claim(help_request, user):
        return CLAIMANT
    if may_coordinate(user, help_request.id):
        return user.role
    return None


def log_reveal(request_id, viewer_id, role, channel, now=None):
    """Record one reveal, unless the same one was logged within the window; True if written."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    now = now or clock.now()
    window = current_app.config["REVEAL_LOG_WINDOW_SECONDS"]
    if (
        window > 0
        and db.session.execute(
            select(
                exists().where(
                    ContactReveal.request_id == request_id,
                    ContactReveal.viewer_id == viewer_id,
                    ContactReveal.viewer_role == role,
                    ContactReveal.channel == channel,
                    ContactReveal.created_at > now - timedelta(seconds=window),
                )
            )
        ).scalar()
    ):
        return False
    values = dict(
        request_id=request_id,
        viewer_id=viewer_id,
        viewer_role=role,
        channel=channel,
        created_at=now,
    )
    if has_request_context() and request.method in SAFE_METHODS:
        # A GET reads in a deferred SQLite transaction: a write in it would need a lock
        # upgrade that fails at once (SQLITE_BUSY_SNAPSHOT, no busy wait) when any other
        # writer committed since the read began. So the reveal gets its own short write
        # transaction on another connection, committed before the details are sent.
        with db.engine.connect() as conn:
            conn.execution_options(write=True)
            with conn.begin():
                conn.execute(insert(ContactReveal).values(**values))
    else:
        # Writes (a claim, a coordinator's edit) already hold the write lock: the reveal
        # commits with them, or rolls back with them when nothing was shown.
        db.session.add(ContactReveal(**values))
    return True


def may_read_log(help_request, user=None, manage_token=None):
    """The requester and the coordinators of the request may read its reveal log."""
    return is_requester(help_request, user, manage_token) or may_coordinate(user, help_request.id)


def short_name(name):
    """The given name only: the last word of a Vietnamese full name."""
    words = (name or "").split()
    return words[-1] if words else ""


def reveals_of(request_id, limit=200):
    """The reveal log of a request, newest first, naming each viewer by given name only."""
    rows = db.session.execute(
        select(ContactReveal, User.name)
        .join(User, User.id == ContactReveal.viewer_id)
        .where(ContactReveal.request_id == request_id)
        .order_by(ContactReveal.created_at.desc(), ContactReveal.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "viewer_id": reveal.viewer_id,
            "viewer_name": short_name(name),
            "role": reveal.viewer_role,
            "channel": reveal.channel,
            "at": reveal.created_at,
        }
        for reveal, name in rows
    ]


def reveal_summary(request_id):
    """One line per person who saw the contact details: given name, role, first and last
    time, number of logged views; the earliest first."""
    r = ContactReveal
    rows = db.session.execute(
        select(
            r.viewer_id,
            r.viewer_role,
            User.name,
            func.min(r.created_at),
            func.max(r.created_at),
            func.count(r.id),
        )
        .join(User, User.id == r.viewer_id)
        .where(r.request_id == request_id)
        .group_by(r.viewer_id, r.viewer_role, User.name)
        .order_by(func.min(r.created_at), r.viewer_id)
    ).all()
    return [
        {
            "viewer_name": short_name(name),
            "role": role,
            "first_at": first,
            "last_at": last,
            "views": views,
        }
        for _viewer, role, name, first, last, views in rows
    ]
