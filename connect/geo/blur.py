"""Deterministic location blurring: a secret offset in an annulus, seeded by a fixed grid cell."""

import hashlib
import hmac
import math

from .distance import EARTH_RADIUS_M, check_distance, check_point

_TWO_53 = float(1 << 53)


def _unit_floats(seed):
    """Two independent uniforms in [0, 1) derived from seed."""
    digest = hashlib.blake2b(bytes(seed), digest_size=16, person=b"connect.blur").digest()
    # 53 bits each: the full precision of a float, so the uniforms have no visible grid.
    u1 = (int.from_bytes(digest[:8], "big") >> 11) / _TWO_53
    u2 = (int.from_bytes(digest[8:], "big") >> 11) / _TWO_53
    return u1, u2


def blur_point(lat, lon, seed: bytes, min_m=150.0, max_m=400.0):
    """(lat, lon) moved min_m..max_m metres in a direction fixed by seed; same seed, same point."""
    # The seed must be secret (e.g. an HMAC of the request with a server key): whoever knows it
    # can undo the offset. A stable seed per request means repeated views cannot be averaged.
    lat, lon = check_point(lat, lon)
    if not isinstance(seed, (bytes, bytearray, memoryview)):
        raise ValueError("seed must be bytes")
    min_m = check_distance(min_m, "min_m")
    max_m = check_distance(max_m, "max_m")
    if not (max_m >= min_m and math.isfinite(max_m)):
        raise ValueError("need 0 <= min_m <= max_m < inf")
    u1, u2 = _unit_floats(seed)
    # Uniform in area over the annulus: r^2 is uniform between min^2 and max^2.
    r = math.sqrt(min_m * min_m + u1 * (max_m * max_m - min_m * min_m))
    bearing = 2.0 * math.pi * u2
    delta = r / EARTH_RADIUS_M
    p1 = math.radians(lat)
    sin_p2 = math.sin(p1) * math.cos(delta) + math.cos(p1) * math.sin(delta) * math.cos(bearing)
    p2 = math.asin(max(-1.0, min(1.0, sin_p2)))
    # Spherical direct problem: exact on the sphere, so it also holds near the poles.
    dlam = math.atan2(
        math.sin(bearing) * math.sin(delta) * math.cos(p1),
        math.cos(delta) - math.sin(p1) * sin_p2,
    )
    lon2 = (lon + math.degrees(dlam) + 180.0) % 360.0 - 180.0
    return math.degrees(p2), lon2


# -- public points: seeded by a fixed grid cell, not by the request ----------------------

# 0.0005 degree cells: 56 m north-south, at most 56 m east-west (less away from the equator).
CELLS_PER_DEGREE = 2000
# From the cell centre: with the cell half-diagonal (< 39.4 m, see cell_radius_m) the point
# stays 155-395 m from any exact point in the cell, inside 150-400 m with room for the 5
# decimals (about 1 m) the API prints.
CENTRE_MIN_M = 195.0
CENTRE_MAX_M = 355.0
CANDIDATES = 16


def blur_cell(lat, lon, cells_per_degree=CELLS_PER_DEGREE):
    """(row, column) of the fixed grid cell holding (lat, lon); columns wrap at 180°."""
    lat, lon = check_point(lat, lon)
    rows = 180 * cells_per_degree
    columns = 360 * cells_per_degree
    # The pole itself belongs to the last row, so a cell centre is never past it.
    row = min(int(math.floor((lat + 90.0) * cells_per_degree)), rows - 1)
    column = int(math.floor((lon + 180.0) * cells_per_degree)) % columns
    return row, column


def cell_centre(cell, cells_per_degree=CELLS_PER_DEGREE):
    """(lat, lon) of the centre of a grid cell."""
    row, column = cell
    return ((row + 0.5) / cells_per_degree - 90.0, (column + 0.5) / cells_per_degree - 180.0)


def cell_radius_m(cells_per_degree=CELLS_PER_DEGREE):
    """An upper bound of the great-circle distance from a cell centre to any point of it."""
    # hav(d) = hav(dlat) + cos(lat1)cos(lat2)hav(dlon) <= 2 hav(half a cell), at any latitude.
    half = math.radians(0.5 / cells_per_degree)
    return 2.0 * EARTH_RADIUS_M * math.asin(math.sqrt(2.0) * math.sin(half / 2.0))


def cell_seed(key: bytes, cell, attempt=0, household: bytes = b""):
    """The secret seed of a cell's attempt-th candidate: an HMAC, so only the server knows it."""
    if not isinstance(key, (bytes, bytearray)) or not key:
        raise ValueError("key must be non-empty bytes")
    row, column = cell
    # The household (e.g. the phone) is in the seed so that equal public points do not tell
    # a stranger "same cell": otherwise moving one's own pin until its public point matches
    # someone's would find their cell. One household in one cell still always gets one point.
    message = b"connect.blur.v3|%d|%d|%d|" % (row, column, attempt) + bytes(household)
    return hmac.new(bytes(key), message, hashlib.sha256).digest()


def blur_candidates(
    lat,
    lon,
    key: bytes,
    count=CANDIDATES,
    cells_per_degree=CELLS_PER_DEGREE,
    household: bytes = b"",
):
    """The public points to try for an exact point, best first; each 150-400 m from it.

    Every exact point in one grid cell gets the same sequence (several requests from one
    house share their points instead of averaging back to it); another cell, an unrelated one.
    """
    return [
        blur_candidate(lat, lon, key, attempt, cells_per_degree, household)
        for attempt in range(count)
    ]


def blur_candidate(
    lat, lon, key: bytes, attempt, cells_per_degree=CELLS_PER_DEGREE, household: bytes = b""
):
    """The attempt-th of blur_candidates, alone (the first is usually the one kept)."""
    cell = blur_cell(lat, lon, cells_per_degree)
    centre = cell_centre(cell, cells_per_degree)
    slack = cell_radius_m(cells_per_degree)
    if not (150.0 + slack <= CENTRE_MIN_M and CENTRE_MAX_M + slack <= 400.0):
        raise ValueError("cells this large cannot keep the point 150-400 m away")
    return blur_point(
        *centre, cell_seed(key, cell, attempt, household), CENTRE_MIN_M, CENTRE_MAX_M
    )
