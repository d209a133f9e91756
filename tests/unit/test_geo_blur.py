"""blur_point: deterministic per seed, 150-400 m away, uniform direction and area."""
import math

import numpy as np
import pytest

from connect.geo import blur_point, haversine_m


def bearing_deg(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


SEEDS = [b"request:%d" % i for i in range(4000)]


def test_same_seed_same_point_different_seed_different_point():
    a = blur_point(21.273, 106.194, b"secret-hmac-of-request-42")
    assert blur_point(21.273, 106.194, b"secret-hmac-of-request-42") == a
    assert blur_point(21.273, 106.194, bytearray(b"secret-hmac-of-request-42")) == a
    assert blur_point(21.273, 106.194, b"secret-hmac-of-request-43") != a
    points = {blur_point(21.273, 106.194, s) for s in SEEDS[:500]}
    assert len(points) == 500


def test_repeated_views_cannot_be_averaged_back_to_the_house():
    # A request always shows the same blurred point, so averaging many views of it gives that
    # point, still 150-400 m from the house.
    house = (21.273, 106.194)
    views = np.array([blur_point(*house, b"request-7") for _ in range(200)])
    mean = views.mean(axis=0)
    assert np.all(views == views[0])
    assert 150.0 - 1e-6 <= haversine_m(*house, *mean) <= 400.0 + 1e-6


@pytest.mark.parametrize(
    "lat, lon",
    [(21.273, 106.194), (0.0, 0.0), (-33.9, 151.2), (0.0, 179.999), (0.0, -180.0),
     (89.999, 10.0), (-89.9999, -170.0), (90.0, 0.0)],
)
def test_distance_in_annulus_and_valid_coordinates(lat, lon):
    for seed in SEEDS[:1000]:
        blat, blon = blur_point(lat, lon, seed)
        assert -90.0 <= blat <= 90.0
        assert -180.0 <= blon < 180.0
        d = haversine_m(lat, lon, blat, blon)
        assert 150.0 - 1e-6 <= d <= 400.0 + 1e-6, (seed, d)


def test_custom_annulus():
    for seed in SEEDS[:300]:
        d = haversine_m(10.0, 20.0, *blur_point(10.0, 20.0, seed, min_m=200.0, max_m=300.0))
        assert 200.0 - 1e-6 <= d <= 300.0 + 1e-6
    d = haversine_m(10.0, 20.0, *blur_point(10.0, 20.0, b"x", min_m=250.0, max_m=250.0))
    assert d == pytest.approx(250.0, abs=1e-6)


def test_direction_is_uniform():
    lat, lon = 21.273, 106.194
    bearings = np.array([bearing_deg(lat, lon, *blur_point(lat, lon, s)) for s in SEEDS])
    counts, _ = np.histogram(bearings, bins=12, range=(0, 360))
    expected = len(SEEDS) / 12
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 31.3, counts  # 99.9th percentile of chi-square with 11 degrees of freedom
    # Mean resultant length near 0: no preferred direction.
    r = abs(np.exp(1j * np.radians(bearings)).mean())
    assert r < 0.05


def test_offset_is_uniform_in_area():
    lat, lon = 21.273, 106.194
    d = np.array([haversine_m(lat, lon, *blur_point(lat, lon, s)) for s in SEEDS])
    # Uniform in area: r^2 is uniform on [150^2, 400^2].
    u = (d**2 - 150.0**2) / (400.0**2 - 150.0**2)
    counts, _ = np.histogram(u, bins=10, range=(0, 1))
    expected = len(SEEDS) / 10
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 27.9, counts  # 99.9th percentile, 9 degrees of freedom
    assert 270.0 < d.mean() < 300.0  # mean of the area-uniform annulus is ~289 m


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((float("nan"), 0, b"s"), {}),
        ((91.0, 0, b"s"), {}),
        ((0, 181.0, b"s"), {}),
        ((0, 0, "not-bytes"), {}),
        ((0, 0, 42), {}),
        ((0, 0, b"s"), {"min_m": 500.0, "max_m": 400.0}),
        ((0, 0, b"s"), {"min_m": -1.0}),
        ((0, 0, b"s"), {"max_m": float("inf")}),
    ],
)
def test_invalid_input(args, kwargs):
    with pytest.raises(ValueError):
        blur_point(*args, **kwargs)
