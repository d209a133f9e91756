"""Reading offers: lookups, who may see what, the nearby list and map dots.

Offers are far fewer than requests (a few per helper, not one per household in need), so they
need no in-memory read model: nearby asks the database through the spatial index on the exact
point (connect.spatial.filter_in_box), then refines by exact great-circle distance here.
"""

import math

from sqlalchemy import exists, func, select

from connect import clock
from connect.accounts.models import User
from connect.areas.models import CoordinatorArea
from connect.areas.services import area_index
from connect.errors import NotFound
from connect.extensions import db
from connect.geo import bbox_for_radius, haversine_m, round_distance_m
from connect.offers.models import Offer
from connect.requests.models import HelpRequest
from connect.requests.privacy import why_shown
from connect.spatial import filter_in_box, latlon

# Public points lie at most ~400 m from the exact one: a map box widened by this much on
# the exact point's index finds every offer whose public point is in the box.
_BLUR_REACH_M = 500
OFFERER = "offerer"


def get_offer(offer_id):
    offer = db.session.get(Offer, offer_id)
    if offer is None:
        raise NotFound("No offer with this id.")
    return offer


def effective_status(offer, now=None):
    """The status with expiry applied: an open offer past available_until is expired."""
    if offer.status == "open" and offer.available_until <= (now or clock.now()):
        return "expired"
    return offer.status


def is_offerer(offer, user):
    return user is not None and offer.user_id == user.id


def may_coordinate_offer(user, offer):
    """Admins everywhere; coordinators when the offer's exact point lies in their areas."""
    # Placed on the fly (one lookup in the cached area index): offers need no stored rows.
    if user is None or not isinstance(user, User):
        return False
    if user.role == "admin":
        return True
    if user.role != "coordinator":
        return False
    area_ids = [int(area_id) for area_id in area_index().containing(*latlon(offer.location))]
    if not area_ids:
        return False
    return db.session.execute(
        select(
            exists().where(
                CoordinatorArea.user_id == user.id, CoordinatorArea.area_id.in_(area_ids)
            )
        )
    ).scalar()


def why_offer_shown(offer, viewer):
    """Offers' rule for connect.requests.privacy: the offerer, coordinators of an area its
    exact point lies in and admins see the name, phone, address and exact point."""
    user = viewer.user
    if is_offerer(offer, user):
        return OFFERER
    if may_coordinate_offer(user, offer):
        return user.role
    return None


def _listed(now):
    return (Offer.status == "open", Offer.available_until > now)


def _dialect():
    return db.session.get_bind().dialect.name


def nearby_offers(lat, lon, radius_m, limit, categories=None, now=None):
    """Open offers within radius_m of (lat, lon), nearest first: public fields only."""
    # distance_m is from the real place, rounded to 100 m; ties go to the lower id.
    now = now or clock.now()
    o = Offer
    columns = (
        o.id,
        o.kind,
        o.title,
        o.description,
        o.categories,
        o.quantity,
        func.ST_Y(o.location),
        func.ST_X(o.location),
        func.ST_Y(o.public_location),
        func.ST_X(o.public_location),
        o.available_until,
        o.created_at,
    )
    wanted = set(categories or ())
    found = {}
    for box in bbox_for_radius(lat, lon, radius_m):
        query = filter_in_box(
            select(*columns).where(*_listed(now)), o, "location", box, _dialect()
        )
        for row in db.session.execute(query):
            if wanted and not wanted.intersection(row[4]):
                continue
            distance = haversine_m(lat, lon, row[6], row[7])
            if distance <= radius_m:
                found[row[0]] = (distance, row)
    nearest = sorted(found.values(), key=lambda pair: (pair[0], pair[1][0]))[:limit]
    return [
        {
            "id": row[0],
            "kind": row[1],
            "title": row[2],
            "description": row[3],
            "categories": row[4],
            "quantity": row[5],
            "location": {"lat": round(row[8], 5), "lon": round(row[9], 5)},
            "distance_m": round_distance_m(distance),
            "available_until": clock.isoformat(row[10]),
            "created_at": clock.isoformat(row[11]),
        }
        for distance, row in nearest
    ]


def map_offers(bbox, limit, now=None):
    """Open offers whose blurred point lies in bbox (min_lon, min_lat, max_lon, max_lat)."""
    # Newest first, public fields only: dots for a public map.
    now = now or clock.now()
    min_lon, min_lat, max_lon, max_lat = bbox
    o = Offer
    pad_lat = _BLUR_REACH_M / 111_000
    pad_lon = pad_lat / max(math.cos(math.radians(max(abs(min_lat), abs(max_lat)))), 0.01)
    wide = (min_lat - pad_lat, min_lon - pad_lon, max_lat + pad_lat, max_lon + pad_lon)
    lat, lon = func.ST_Y(o.public_location), func.ST_X(o.public_location)
    query = filter_in_box(
        select(o.id, o.kind, o.title, o.categories, o.quantity, lat, lon, o.available_until)
        .where(*_listed(now), lon.between(min_lon, max_lon), lat.between(min_lat, max_lat))
        .order_by(o.created_at.desc(), o.id.desc())
        .limit(limit),
        o,
        "location",
        wide,
        _dialect(),
    )
    return [
        {
            "id": id_,
            "kind": kind,
            "title": title,
            "categories": categories,
            "quantity": quantity,
            "location": {"lat": round(lat_, 5), "lon": round(lon_, 5)},
            "available_until": clock.isoformat(until),
        }
        for id_, kind, title, categories, quantity, lat_, lon_, until in db.session.execute(query)
    ]


def offers_of(user_id):
    """A helper's offers, the listed ones first, newest first."""
    return (
        db.session.execute(
            select(Offer)
            .where(Offer.user_id == user_id)
            .order_by((Offer.status == "open").desc(), Offer.created_at.desc(), Offer.id.desc())
        )
        .scalars()
        .all()
    )


def asks_of(offer_ids):
    """{offer id: [requests asked of it, newest first]} for these offers."""
    found = {offer_id: [] for offer_id in offer_ids}
    if not found:
        return found
    rows = db.session.execute(
        select(HelpRequest)
        .where(HelpRequest.offer_id.in_(list(found)))
        .order_by(HelpRequest.created_at.desc(), HelpRequest.id.desc())
    ).scalars()
    for help_request in rows:
        found[help_request.offer_id].append(help_request)
    return found


def init_app(app):
    """Give connect.requests.privacy offers' rule (create_app calls this in every process)."""
    why_shown.register(Offer, why_offer_shown)
