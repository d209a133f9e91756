"""Duplicate posts: one active request per phone, and look-alikes flagged for coordinators."""
from datetime import timedelta

from sqlalchemy import exists, func, select

from connect import clock
from connect.areas.services import may_coordinate
from connect.errors import Conflict
from connect.extensions import db
from connect.geo import bbox_for_radius, haversine_m
from connect.requests.models import HelpRequest
from connect.requests.queries import is_requester
from connect.requests.state import ACTIVE, HELPED
from connect.safety.models import Report, RequestFlag
from connect.spatial import filter_in_box

LOOKALIKE_RADIUS_M = 100.0
LOOKALIKE_WINDOW = timedelta(hours=48)
# Enough for a coordinator to see the pattern; a crowded block must not make dozens.
MAX_FLAGS_PER_POST = 5
# A cancelled or expired request asks for nothing any more, so a new one is not its double;
# a hidden one is kept: posting it again from another phone is what a spammer does.
LOOKALIKE_STATUSES = (*ACTIVE, *HELPED, "hidden")
ACTIVE_PHONE_INDEX = "uq_help_requests_active_phone"


class DuplicateRequest(Conflict):
    """The phone already has an open or claimed request; details name it only to its owner."""

    code = "duplicate_request"
    message = ("This phone number already has an open request. Update that request instead "
               "of posting a new one.")
    # The manage token (of those the caller presented) that opens the existing request.
    owner_token = None


def active_request_with_phone(phone, exclude_id=None):
    """The open or claimed request with this phone, lapsed leases and expiry applied first."""
    from connect.requests.services import apply_timeouts

    condition = [HelpRequest.phone == phone, HelpRequest.status.in_(ACTIVE)]
    if exclude_id is not None:
        condition.append(HelpRequest.id != exclude_id)
    for request_id in db.session.execute(select(HelpRequest.id).where(*condition)).scalars():
        apply_timeouts(request_id)
    return db.session.execute(
        select(HelpRequest).where(*condition).order_by(HelpRequest.id).limit(1)
        .execution_options(populate_existing=True)).scalar_one_or_none()


def duplicate_of(existing, caller=None, manage_tokens=()):
    """The DuplicateRequest to raise: it names the request only to its owner or coordinator."""
    # Anyone else would learn where a phone number asked for help.
    if existing is None:
        return DuplicateRequest()
    owner_token = next((token for token in manage_tokens
                        if token and is_requester(existing, None, token)), None)
    known = (owner_token is not None or is_requester(existing, caller)
             or may_coordinate(caller, existing.id))
    error = DuplicateRequest(details={"request_id": existing.id} if known else None)
    error.owner_token = owner_token
    return error


def check_phone_free(phone, caller=None, manage_tokens=(), exclude_id=None):
    """Raise DuplicateRequest when another open, claimed or hidden request has this phone."""
    existing = active_request_with_phone(phone, exclude_id)
    if existing is None:
        # A request hidden by reports holds its phone until a coordinator has looked at it:
        # otherwise posting it again would walk around the review.
        existing = db.session.execute(
            select(HelpRequest).where(
                HelpRequest.phone == phone, HelpRequest.status == "hidden",
                HelpRequest.purged_at.is_(None),
                exists().where(Report.subject_type == "request",
                               Report.subject_id == HelpRequest.id,
                               Report.resolved_at.is_(None)),
                *([HelpRequest.id != exclude_id] if exclude_id else []))
            .order_by(HelpRequest.id).limit(1)).scalar_one_or_none()
    if existing is not None:
        raise duplicate_of(existing, caller, manage_tokens)


def is_active_phone_clash(error):
    """Whether an IntegrityError is the one-active-request-per-phone index refusing a row."""
    text = str(getattr(error, "orig", error))
    return ACTIVE_PHONE_INDEX in text or "help_requests.phone" in text


def raise_phone_clash(phone, caller=None, manage_tokens=(), exclude_id=None):
    """After the index refused a row: the same answer as check_phone_free would have given."""
    raise duplicate_of(active_request_with_phone(phone, exclude_id), caller, manage_tokens)


# -- look-alikes from other phones ------------------------------------------------------

def flag_lookalikes(help_request, lat, lon, now=None):
    """Flag look-alikes of a new request for coordinators; returns the flags, nearest first."""
    # A look-alike shares a category, came from another phone, was posted in the last 48 h
    # and its exact point is within 100 m (bbox on the spatial index, then haversine).
    now = now or clock.now()
    wanted = set(help_request.categories)
    found = {}
    for box in bbox_for_radius(lat, lon, LOOKALIKE_RADIUS_M):
        for other_id, categories, other_lat, other_lon in _candidates(help_request, box, now):
            distance = haversine_m(lat, lon, other_lat, other_lon)
            if distance <= LOOKALIKE_RADIUS_M and wanted & set(categories or ()):
                found[other_id] = distance
    nearest = sorted(found, key=lambda other_id: (found[other_id], other_id))
    flags = [RequestFlag(request_id=help_request.id, kind="possible_duplicate",
                         related_request_id=other_id, created_at=now)
             for other_id in nearest[:MAX_FLAGS_PER_POST]]
    db.session.add_all(flags)
    return flags


def _candidates(help_request, box, now):
    r = HelpRequest
    query = select(r.id, r.categories, func.ST_Y(r.location), func.ST_X(r.location)).where(
        r.id != help_request.id, r.phone != help_request.phone,
        r.created_at >= now - LOOKALIKE_WINDOW, r.status.in_(LOOKALIKE_STATUSES),
        # A purged request's location is its public point: nothing exact to compare.
        r.purged_at.is_(None))
    query = filter_in_box(query, r, "location", box, db.session.get_bind().dialect.name)
    return db.session.execute(query).all()
