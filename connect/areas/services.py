"""Areas: import from GeoJSON, place requests and volunteers in them, scope coordinators to them."""

import threading

from geoalchemy2.shape import from_shape, to_shape
from sqlalchemy import delete, exists, func, insert, select

from connect import clock
from connect.accounts.models import User, Volunteer
from connect.areas import signals
from connect.areas.models import (
    AREA_LEVELS,
    Area,
    CoordinatorArea,
    RequestArea,
    VolunteerArea,
)
from connect.errors import NotFound, ValidationFailed
from connect.extensions import db
from connect.geo import AreaIndex, area_geometry
from connect.spatial import SRID

_lock = threading.Lock()
_shared = {"version": None, "index": None}
_PLACE_BATCH = 5000


def feature_fields(feature, position):
    """(code, name, level, parent_code, MultiPolygon) of one GeoJSON feature; ValueError else."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ValueError(f"feature {position}: not a GeoJSON Feature")
    properties = feature.get("properties") or {}
    code = properties.get("code", feature.get("id"))
    name = properties.get("name")
    level = properties.get("level", "commune")
    if code in (None, "") or not isinstance(code, (str, int)) or len(str(code)) > 64:
        raise ValueError(f"feature {position}: needs a 'code' property (or id), ≤ 64 chars")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValueError(f"feature {position}: needs a 'name' property, ≤ 200 chars")
    if level not in AREA_LEVELS:
        raise ValueError(f"feature {position}: 'level' must be one of {', '.join(AREA_LEVELS)}")
    parent = properties.get("parent")
    try:
        geometry = area_geometry(feature.get("geometry"))
    except ValueError as exc:
        raise ValueError(f"feature {position} ({code}): {exc}") from exc
    return (
        str(code),
        name.strip(),
        level,
        (str(parent) if parent not in (None, "") else None),
        geometry,
    )


def import_areas(features, progress=None):
    """Create or update areas by code from GeoJSON features, then re-place every request."""
    parsed = [feature_fields(feature, i) for i, feature in enumerate(features)]
    codes = {code for code, *_ in parsed}
    existing = {area.code: area for area in db.session.execute(select(Area)).scalars()}
    known = codes | set(existing)
    now = clock.now()
    created = updated = 0
    for code, name, level, parent, geometry in parsed:
        if parent is not None and parent not in known:
            raise ValidationFailed(f"Area {code}: unknown parent {parent}.", code="invalid_areas")
        area = existing.get(code)
        if area is None:
            area = existing[code] = Area(code=code, created_at=now)
            db.session.add(area)
            created += 1
        else:
            updated += 1
        area.name, area.level, area.updated_at = name, level, now
        area.geometry = from_shape(geometry, srid=SRID)
        if progress is not None:
            progress(1)
    db.session.flush()
    for code, _, _, parent, _ in parsed:
        existing[code].parent_id = existing[parent].id if parent else None
    db.session.flush()
    # Requests live in a package above this one: it places its own (connect.requests.listeners).
    placed = sum(count for _, count in signals.imported.send(None))
    volunteers = place_all_volunteers()
    return {
        "created": created,
        "updated": updated,
        "placements": placed,
        "volunteer_placements": volunteers,
    }


def areas_version():
    """What changes whenever the stored areas do: the key of a process's caches of them."""
    return tuple(
        db.session.execute(
            select(func.count(Area.id), func.max(Area.updated_at), func.max(Area.id))
        ).one()
    )


def area_index():
    """This process's AreaIndex, rebuilt when the stored areas change."""
    version = areas_version()
    with _lock:
        if _shared["version"] != version:
            rows = db.session.execute(select(Area.id, Area.geometry)).all()
            _shared["index"] = AreaIndex(
                (area_id, to_shape(geometry)) for area_id, geometry in rows
            )
            _shared["version"] = version
        return _shared["index"]


def place_request(request_id, lat, lon):
    """Record the areas a request's exact point lies in (again, after it moved)."""
    area_ids = area_index().containing(lat, lon)
    db.session.execute(delete(RequestArea).where(RequestArea.request_id == request_id))
    if area_ids:
        db.session.execute(
            insert(RequestArea),
            [{"request_id": request_id, "area_id": area_id} for area_id in area_ids],
        )
    return area_ids


def place_volunteer(volunteer_id, lat, lon):
    """Record the areas a volunteer's point lies in (again, after it moved)."""
    area_ids = area_index().containing(lat, lon)
    db.session.execute(delete(VolunteerArea).where(VolunteerArea.volunteer_id == volunteer_id))
    if area_ids:
        db.session.execute(
            insert(VolunteerArea),
            [{"volunteer_id": volunteer_id, "area_id": area_id} for area_id in area_ids],
        )
    return area_ids


def place_all(model, placement, key):
    """Re-place every row of model in the areas; returns the number of placements."""
    index = area_index()
    db.session.execute(delete(placement))
    placed, last_id = 0, 0
    while True:
        rows = db.session.execute(
            select(model.id, func.ST_Y(model.location), func.ST_X(model.location))
            .where(model.id > last_id)
            .order_by(model.id)
            .limit(_PLACE_BATCH)
        ).all()
        if not rows:
            return placed
        last_id = rows[-1][0]
        positions, area_ids = index.containing_many([r[1] for r in rows], [r[2] for r in rows])
        if len(positions):
            db.session.execute(
                insert(placement),
                [{key: rows[int(p)][0], "area_id": int(a)} for p, a in zip(positions, area_ids)],
            )
            placed += len(positions)


def place_all_volunteers():
    """Re-place every volunteer (after an import); returns the number of placements."""
    return place_all(Volunteer, VolunteerArea, "volunteer_id")


def grant_area(user, code):
    """Scope a coordinator to one more area (by code)."""
    area = db.session.execute(select(Area).where(Area.code == code)).scalar_one_or_none()
    if area is None:
        raise NotFound(f"No area with code {code}.", code="unknown_area")
    if db.session.get(CoordinatorArea, (user.id, area.id)) is None:
        db.session.add(CoordinatorArea(user_id=user.id, area_id=area.id))
        db.session.flush()
    return area


def coordinator_area_ids(user_id):
    return (
        db.session.execute(
            select(CoordinatorArea.area_id)
            .where(CoordinatorArea.user_id == user_id)
            .order_by(CoordinatorArea.area_id)
        )
        .scalars()
        .all()
    )


def may_coordinate(user, request_id):
    """Whether this user acts as coordinator for the request: admins everywhere, coordinators
    in their areas only (a coordinator with no area coordinates nothing)."""
    if user is None or not isinstance(user, User):
        return False
    if user.role == "admin":
        return True
    if user.role != "coordinator" or request_id is None:
        return False
    return db.session.execute(
        select(
            exists().where(
                CoordinatorArea.user_id == user.id,
                RequestArea.area_id == CoordinatorArea.area_id,
                RequestArea.request_id == request_id,
            )
        )
    ).scalar()


def may_coordinate_area(user, area):
    """Whether this user acts as coordinator for a whole area: admins everywhere, coordinators
    in an area they were granted or one inside it (a district of their province)."""
    if user is None or not isinstance(user, User):
        return False
    if user.role == "admin":
        return True
    if user.role != "coordinator":
        return False
    granted = set(coordinator_area_ids(user.id))
    seen = set()
    while area is not None and area.id not in seen:  # a parent cycle in bad data ends here
        if area.id in granted:
            return True
        seen.add(area.id)
        area = db.session.get(Area, area.parent_id) if area.parent_id is not None else None
    return False
