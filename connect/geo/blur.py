"""Deterministic location blurring: a stable random offset in an annulus around the exact point."""
import hashlib
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
