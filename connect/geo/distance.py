"""Great-circle distances, radius boxes and unit-sphere conversions (WGS84 degrees, metres)."""

import math

import numpy as np

# IUGG mean Earth radius: the sphere that best fits distances on the ellipsoid.
EARTH_RADIUS_M = 6_371_008.8

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def check_point(lat, lon):
    """Return (lat, lon) as floats or raise ValueError if not a valid WGS84 point."""
    try:
        lat = float(lat)
        lon = float(lon)
    except (TypeError, ValueError):
        raise ValueError(f"lat/lon must be numbers, got {lat!r}, {lon!r}") from None
    # The chained comparisons are False for NaN, so NaN lands here too.
    if not (-90.0 <= lat <= 90.0):
        raise ValueError(f"latitude must be within [-90, 90], got {lat!r}")
    if not (-180.0 <= lon <= 180.0):
        raise ValueError(f"longitude must be within [-180, 180], got {lon!r}")
    return lat, lon


def check_points(lats, lons):
    """Return lats, lons as equal-length 1-D float64 arrays or raise ValueError."""
    try:
        lats = np.asarray(lats, dtype=np.float64).reshape(-1)
        lons = np.asarray(lons, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError("lats/lons must be numeric arrays") from None
    if lats.shape != lons.shape:
        raise ValueError(f"lats and lons differ in length: {lats.size} != {lons.size}")
    # `not (a <= x <= b)` also rejects NaN.
    if lats.size and not (np.all(np.abs(lats) <= 90.0) and np.all(np.abs(lons) <= 180.0)):
        raise ValueError(
            "every latitude must be within [-90, 90] and longitude within [-180, 180]"
        )
    return lats, lons


def check_distance(d, name="distance"):
    """Return d as a float >= 0 (inf allowed) or raise ValueError."""
    try:
        d = float(d)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {d!r}") from None
    if not d >= 0.0:  # also rejects NaN
        raise ValueError(f"{name} must be >= 0, got {d!r}")
    return d


def check_id(id_):
    """Return id_ as a Python int in the int64 range or raise ValueError."""
    try:
        id_ = int(id_.__index__())
    except (AttributeError, TypeError):
        raise ValueError(f"id must be an integer, got {id_!r}") from None
    if not _INT64_MIN <= id_ <= _INT64_MAX:
        raise ValueError(f"id must fit in int64, got {id_!r}")
    return id_


def haversine_m(lat1, lon1, lat2, lon2):
    """Great-circle distance in metres between two (lat, lon) points in degrees."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    s = math.sin((p2 - p1) * 0.5)
    t = math.sin(math.radians(lon2 - lon1) * 0.5)
    a = s * s + math.cos(p1) * math.cos(p2) * t * t
    # Rounding can push sqrt(a) a hair above 1 for antipodal points.
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def haversine_m_np(lat1, lon1, lats, lons):
    """Great-circle distances in metres from one point to arrays of points (degrees)."""
    p1 = math.radians(lat1)
    p2 = np.radians(np.asarray(lats, dtype=np.float64))
    s = np.sin((p2 - p1) * 0.5)
    t = np.sin(np.radians(np.asarray(lons, dtype=np.float64) - lon1) * 0.5)
    a = s * s + math.cos(p1) * np.cos(p2) * (t * t)
    return (2.0 * EARTH_RADIUS_M) * np.arcsin(np.minimum(1.0, np.sqrt(a)))


def bbox_for_radius(lat, lon, radius_m):
    """Degree boxes (min_lat, min_lon, max_lat, max_lon) that together cover the circle."""
    lat, lon = check_point(lat, lon)
    radius_m = check_distance(radius_m, "radius_m")
    r = radius_m / EARTH_RADIUS_M  # angular radius
    # A hair of slack so points exactly on the circle survive rounding in either formula.
    pad = 1e-9
    if r >= math.pi:
        return [(-90.0, -180.0, 90.0, 180.0)]
    r_deg = math.degrees(r)
    min_lat = lat - r_deg - pad
    max_lat = lat + r_deg + pad
    if max_lat >= 90.0 or min_lat <= -90.0:
        # The cap contains a pole, so every meridian crosses it.
        return [(max(min_lat, -90.0), -180.0, min(max_lat, 90.0), 180.0)]
    # Widest longitude extent of a spherical cap (at the tangent meridians, not at `lat`).
    ratio = math.sin(r) / math.cos(math.radians(lat))
    if ratio >= 1.0:
        return [(min_lat, -180.0, max_lat, 180.0)]
    dlon = math.degrees(math.asin(ratio)) + pad
    min_lon = lon - dlon
    max_lon = lon + dlon
    if max_lon - min_lon >= 360.0:
        return [(min_lat, -180.0, max_lat, 180.0)]
    if min_lon < -180.0:
        return [(min_lat, min_lon + 360.0, max_lat, 180.0), (min_lat, -180.0, max_lat, max_lon)]
    if max_lon > 180.0:
        return [(min_lat, min_lon, max_lat, 180.0), (min_lat, -180.0, max_lat, max_lon - 360.0)]
    return [(min_lat, min_lon, max_lat, max_lon)]


def round_distance_m(d, step=100):
    """Round a distance in metres to the nearest `step` (halves go up), as an int."""
    # On the per-item path of nearby lists, so no float() round trip: ~0.2 us per call.
    # floor(x + 0.5), not round(): banker's rounding would show 150 m as 200 but 250 m as 200.
    try:
        r = math.floor(d / step + 0.5)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"distance must be a finite number, got {d!r}") from None
    if d < 0:
        raise ValueError(f"distance must be >= 0, got {d!r}")
    return int(r) * int(step)


def round_distance_m_np(d, step=100):
    """Vectorised round_distance_m: an int64 array (one numpy call for a whole list)."""
    d = np.asarray(d, dtype=np.float64)
    if d.size and not (np.all(d >= 0) and np.all(np.isfinite(d))):
        raise ValueError("distances must be finite and >= 0")
    return (np.floor(d / step + 0.5) * step).astype(np.int64)


def to_unit_xyz(lats, lons):
    """Unit-sphere (x, y, z) rows, shape (n, 3), for latitudes/longitudes in degrees."""
    p = np.radians(np.atleast_1d(np.asarray(lats, dtype=np.float64)).reshape(-1))
    lam = np.radians(np.atleast_1d(np.asarray(lons, dtype=np.float64)).reshape(-1))
    out = np.empty((p.size, 3), dtype=np.float64)
    c = np.cos(p)
    np.multiply(c, np.cos(lam), out=out[:, 0])
    np.multiply(c, np.sin(lam), out=out[:, 1])
    np.sin(p, out=out[:, 2])
    return out


def chord_for_distance_m(d):
    """Unit-sphere chord length for a great-circle distance in metres (clamped at 2)."""
    theta = np.minimum(np.asarray(d, dtype=np.float64) / EARTH_RADIUS_M, math.pi)
    out = 2.0 * np.sin(theta * 0.5)
    return float(out) if out.ndim == 0 else out


def distance_m_for_chord(c):
    """Great-circle distance in metres for a unit-sphere chord length."""
    half = np.minimum(np.asarray(c, dtype=np.float64) * 0.5, 1.0)
    out = (2.0 * EARTH_RADIUS_M) * np.arcsin(half)
    return float(out) if out.ndim == 0 else out
