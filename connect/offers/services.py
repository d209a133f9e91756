"""Offer rules: posting, editing, closing, hiding, and asking an offer for help."""

from datetime import timedelta

from sqlalchemy import select, update

from connect import clock
from connect.errors import Conflict, Forbidden, NotFound, ValidationFailed
from connect.extensions import db
from connect.geo import haversine_m
from connect.matching.push import public_payload
from connect.notifications.delivery import notify
from connect.offers.models import Offer
from connect.offers.queries import effective_status, is_offerer, may_coordinate_offer
from connect.offers.schemas import DEFAULT_AVAILABLE_DAYS, MAX_AVAILABLE_DAYS
from connect.requests import services as request_services
from connect.requests.blurring import public_point
from connect.requests.categories import CATEGORIES
from connect.spatial import latlon, point

EDITABLE_FIELDS = (
    "kind",
    "title",
    "description",
    "quantity",
    "address",
    "contact_name",
    "phone",
    "available_until",
)
_MOVE_THRESHOLD_M = 1.0


def _ordered(categories):
    return [name for name in CATEGORIES if name in categories]


def _check_until(until, now):
    if until <= now or until > now + timedelta(days=MAX_AVAILABLE_DAYS):
        raise ValidationFailed(
            details={
                "fields": {
                    "available_until": [
                        f"Give a time in the future, at most {MAX_AVAILABLE_DAYS} days ahead."
                    ]
                }
            }
        )
    return until


def post_offer(user, data):
    """Create an open offer for this account; posting one makes a resident a helper."""
    now = clock.now()
    until = data.get("available_until") or now + timedelta(days=DEFAULT_AVAILABLE_DAYS)
    lat, lon = data["location"]["lat"], data["location"]["lon"]
    phone = data.get("phone") or user.phone
    offer = Offer(
        user_id=user.id,
        kind=data.get("kind") or "volunteer",
        title=data["title"],
        description=data["description"],
        categories=_ordered(data["categories"]),
        quantity=data.get("quantity") or None,
        location=point(lat, lon),
        public_location=point(*public_point(lat, lon, phone)),
        address=data.get("address") or None,
        contact_name=data.get("contact_name") or user.name,
        phone=phone,
        status="open",
        available_until=_check_until(until, now),
        created_at=now,
        updated_at=now,
    )
    db.session.add(offer)
    # As with a volunteer profile: the account now gives help (staff keep their role).
    if user.role == "resident":
        user.role = "volunteer"
    db.session.flush()
    return offer


def lock_offer(offer_id):
    """The offer, re-read and row-locked until commit (SQLite serialises writers anyway)."""
    # So asks, edits, closing and reports on one offer happen one after another.
    offer = db.session.execute(
        select(Offer)
        .where(Offer.id == offer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if offer is None:
        raise NotFound("No offer with this id.")
    return offer


def _managed(offer_id, user):
    """The locked offer, if this user may change it (its offerer, a coordinator, an admin)."""
    offer = lock_offer(offer_id)
    if not (is_offerer(offer, user) or may_coordinate_offer(user, offer)):
        raise Forbidden(
            "Only the person who posted the offer or a coordinator can change it.",
            code="not_offerer",
        )
    return offer


def _require_open(offer, now):
    status = effective_status(offer, now)
    if status != "open":
        raise Conflict(
            f"This offer is {status}; it can no longer be changed.",
            code="offer_closed",
            details={"status": status},
        )


def edit_offer(offer_id, data, user):
    """Change what an open offer gives, how much, where or until when."""
    offer = _managed(offer_id, user)
    now = clock.now()
    _require_open(offer, now)
    if "available_until" in data:
        _check_until(data["available_until"], now)
    for name in EDITABLE_FIELDS:
        if name in data:
            setattr(offer, name, data[name])
    if "categories" in data:
        offer.categories = _ordered(data["categories"])
    offer.quantity, offer.address = offer.quantity or None, offer.address or None
    if "location" in data:
        lat, lon = data["location"]["lat"], data["location"]["lon"]
        if haversine_m(*latlon(offer.location), lat, lon) > _MOVE_THRESHOLD_M:
            offer.location = point(lat, lon)
            offer.public_location = point(*public_point(lat, lon, offer.phone))
    offer.updated_at = now
    db.session.flush()
    return offer


def close_offer(offer_id, user):
    """The offerer (or a coordinator) withdraws an open offer; asked requests stay theirs."""
    offer = _managed(offer_id, user)
    now = clock.now()
    _require_open(offer, now)
    offer.status, offer.closed_at, offer.updated_at = "closed", now, now
    db.session.flush()
    return offer


def hide_offer(offer_id):
    """Moderation (reports past the threshold): an open offer leaves every list and map."""
    # Offers keep no event history: the reports themselves say why.
    offer = lock_offer(offer_id)
    if offer.status == "open":
        now = clock.now()
        offer.status, offer.closed_at, offer.updated_at = "hidden", now, now
        db.session.flush()
    return offer


def expire_offers(now=None):
    """Persist the expiry of open offers past available_until; returns how many."""
    now = now or clock.now()
    result = db.session.execute(
        update(Offer)
        .where(Offer.status == "open", Offer.available_until <= now)
        .values(status="expired", closed_at=Offer.available_until, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def ask_offer(offer_id, data, requester=None, source="api", manage_tokens=()):
    """A request posted as usual, at once claimed by the offerer, who is notified."""
    # Returns the request and its manage token (shown once), as post_request does. No
    # account needed; one open request per phone holds. The offerer's capacity and the
    # new-volunteer limit do not apply: what an offer can give is its offerer's business,
    # and they can release a request they cannot serve.
    offer = lock_offer(offer_id)
    status = effective_status(offer)
    if status != "open":
        raise Conflict(
            f"This offer is {status}; it can no longer be asked.",
            code="offer_closed",
            details={"status": status},
        )
    if is_offerer(offer, requester):
        raise Forbidden("This is your own offer.", code="own_offer")
    # Not pushed to other volunteers: it is the offerer's from the start.
    help_request, token = request_services.post_request(
        data, requester=requester, source=source, manage_tokens=manage_tokens, push=False
    )
    help_request = request_services.claim_for_offer(
        help_request.id, offer.user_id, offer.id, requester
    )
    # What the offerer's inbox shows, as for assigned needs: public fields only.
    notify(
        offer.user_id,
        "assigned",
        help_request.id,
        {
            **public_payload(
                help_request, haversine_m(*latlon(offer.location), *latlon(help_request.location))
            ),
            "lease_ends_at": clock.isoformat(help_request.lease_expires_at),
            "offer_id": offer.id,
            "offer_title": offer.title,
        },
    )
    return help_request, token
