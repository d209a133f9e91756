"""Reading help requests: lookups, who is who to a request, lists for pages and maps."""

import hmac
from datetime import timedelta

from sqlalchemy import and_, case, func, or_, select

from connect import clock
from connect.accounts.models import hash_secret
from connect.errors import NotFound
from connect.extensions import db
from connect.requests.models import Assist, HelpRequest, RequestEvent
from connect.requests.state import ACTIVE, HELPED


def get_request(request_id):
    help_request = db.session.get(HelpRequest, request_id)
    if help_request is None:
        raise NotFound("No help request with this id.")
    return help_request


def effective_state(help_request, now=None):
    """(status, expires_at) with lapsed leases and expiry applied, as once persisted."""
    return help_request.state_at(now)


def effective_status(help_request, now=None):
    return help_request.status_at(now)


def is_requester(help_request, user=None, manage_token=None):
    if manage_token and hmac.compare_digest(
        hash_secret(manage_token), help_request.manage_token_hash
    ):
        return True
    return user is not None and help_request.requester_id == user.id


def holds_claim(help_request, user, now=None):
    return (
        user is not None
        and help_request.claimed_by_id == user.id
        and help_request.is_claimed_at(now)
    )


def active_claims(user_id):
    return db.session.execute(
        select(func.count(Assist.id)).where(
            Assist.volunteer_id == user_id, Assist.outcome.is_(None)
        )
    ).scalar_one()


MAP_HELPED_DAYS = 7


def claims_held_by(user_id, now=None):
    """The requests this volunteer holds a live claim on, the soonest lease end first."""
    now = now or clock.now()
    return (
        db.session.execute(
            select(HelpRequest)
            .where(HelpRequest.claimed_by_id == user_id, HelpRequest.is_claimed_at(now))
            .order_by(HelpRequest.lease_expires_at, HelpRequest.id)
        )
        .scalars()
        .all()
    )


def map_requests(bbox, limit, now=None):
    """Dots for a public map: requests open now and those helped or confirmed in the last
    week, whose blurred point lies in bbox (min_lon, min_lat, max_lon, max_lat); open ones
    first, newest first. Only public fields: never the exact point or any contact."""
    now = now or clock.now()
    min_lon, min_lat, max_lon, max_lat = bbox
    r = HelpRequest
    lat, lon = func.ST_Y(r.public_location), func.ST_X(r.public_location)
    helped_lately = and_(
        r.status.in_(HELPED), r.closed_at >= now - timedelta(days=MAP_HELPED_DAYS)
    )
    rows = db.session.execute(
        select(
            r.id, r.status, r.categories, r.urgency, lat, lon, r.location_precision, r.created_at
        )
        .where(
            or_(r.is_open_at(now), helped_lately),
            lon.between(min_lon, max_lon),
            lat.between(min_lat, max_lat),
        )
        .order_by(case((r.status.in_(ACTIVE), 0), else_=1), r.created_at.desc(), r.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": id_,
            "status": "open" if status == "claimed" else status,
            "categories": categories,
            "urgency": urgency,
            "location": {"lat": round(lat_, 5), "lon": round(lon_, 5)},
            "location_precision": precision,
            "created_at": clock.isoformat(created_at),
        }
        for id_, status, categories, urgency, lat_, lon_, precision, created_at in rows
    ]


_MAX_TOKEN_LENGTH = 128


def find_by_manage_token(token):
    """The request this manage token opens, or None; the same answer for any wrong token."""
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    token_hash = hash_secret(token)
    help_request = db.session.execute(
        select(HelpRequest).where(HelpRequest.manage_token_hash == token_hash)
    ).scalar_one_or_none()
    # The lookup is by a hash of a 256-bit secret; compare again in constant time anyway.
    if help_request is None or not hmac.compare_digest(help_request.manage_token_hash, token_hash):
        return None
    return help_request


def reopened_after_claim(help_request):
    """Whether a request open now was claimed before and given back or left to lapse (the
    requester's page says the volunteer could not come)."""
    if help_request.status == "claimed":  # its lease lapsed; not yet persisted
        return True
    e = RequestEvent
    return (
        db.session.execute(
            select(e.id)
            .where(
                e.request_id == help_request.id, e.from_status == "claimed", e.to_status == "open"
            )
            .limit(1)
        ).first()
        is not None
    )


def holds_claim_of(user, request_id):
    """Whether this user holds the claim of the request (a check for connect.web.access)."""
    return holds_claim(get_request(request_id), user)
