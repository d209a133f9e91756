"""Unit tests for connect.geo.distance: haversine, radius boxes, rounding, unit-sphere helpers."""

import math

import numpy as np
import pytest

from connect.geo import (
    EARTH_RADIUS_M,
    bbox_for_radius,
    chord_for_distance_m,
    distance_m_for_chord,
    haversine_m,
    haversine_m_np,
    round_distance_m,
    round_distance_m_np,
    to_unit_xyz,
)


def destination(lat, lon, bearing_rad, dist_m):
    """Point dist_m along bearing from (lat, lon) on the sphere; arrays allowed."""
    p1 = np.radians(lat)
    delta = np.asarray(dist_m) / EARTH_RADIUS_M
    sin_p2 = np.sin(p1) * np.cos(delta) + np.cos(p1) * np.sin(delta) * np.cos(bearing_rad)
    p2 = np.arcsin(np.clip(sin_p2, -1, 1))
    dlam = np.arctan2(
        np.sin(bearing_rad) * np.sin(delta) * np.cos(p1), np.cos(delta) - np.sin(p1) * sin_p2
    )
    lon2 = (np.asarray(lon) + np.degrees(dlam) + 180.0) % 360.0 - 180.0
    return np.degrees(p2), lon2


def in_boxes(lats, lons, boxes):
    inside = np.zeros(np.shape(lats), dtype=bool)
    for min_lat, min_lon, max_lat, max_lon in boxes:
        inside |= (lats >= min_lat) & (lats <= max_lat) & (lons >= min_lon) & (lons <= max_lon)
    return inside


# ---- haversine ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b, expected_m, rel",
    [
        ((21.0285, 105.8542), (10.8231, 106.6297), 1_137_000, 0.005),  # Hanoi - Ho Chi Minh City
        ((51.5074, -0.1278), (48.8566, 2.3522), 343_500, 0.005),  # London - Paris
        ((0.0, 0.0), (0.0, 1.0), math.pi * EARTH_RADIUS_M / 180, 1e-12),  # 1 degree of equator
        ((90.0, 0.0), (-90.0, 0.0), math.pi * EARTH_RADIUS_M, 1e-12),  # pole to pole
        ((0.0, 0.0), (0.0, 180.0), math.pi * EARTH_RADIUS_M, 1e-12),  # antipodes
        # across the antimeridian
        ((0.0, 179.5), (0.0, -179.5), math.pi * EARTH_RADIUS_M / 180, 1e-9),
        ((21.273, 106.194), (21.273, 106.194), 0.0, 0.0),
    ],
)
def test_haversine_known_distances(a, b, expected_m, rel):
    d = haversine_m(*a, *b)
    assert d == pytest.approx(expected_m, rel=rel, abs=1e-9)
    assert haversine_m(*b, *a) == pytest.approx(d, rel=1e-12, abs=1e-9)
    assert float(haversine_m_np(*a, [b[0]], [b[1]])[0]) == pytest.approx(d, rel=1e-12, abs=1e-9)


def test_degree_of_longitude_is_shorter_than_of_latitude_at_21n():
    # The reason planar degree ranking is wrong: at 21 N a degree of longitude is ~104 km.
    lon_deg = haversine_m(21.0, 106.0, 21.0, 107.0)
    lat_deg = haversine_m(21.0, 106.0, 22.0, 106.0)
    assert lon_deg == pytest.approx(103_800, rel=0.01)
    assert lat_deg == pytest.approx(111_200, rel=0.01)


def test_haversine_np_matches_scalar_on_random_points():
    rng = np.random.default_rng(1)
    lats = np.degrees(np.arcsin(rng.uniform(-1, 1, 2000)))
    lons = rng.uniform(-180, 180, 2000)
    d = haversine_m_np(12.5, -170.0, lats, lons)
    expected = [haversine_m(12.5, -170.0, la, lo) for la, lo in zip(lats, lons)]
    np.testing.assert_allclose(d, expected, rtol=1e-12, atol=1e-6)
    assert np.all(d >= 0) and np.all(d <= math.pi * EARTH_RADIUS_M + 1e-6)


def test_haversine_never_nan_for_near_antipodes():
    lats = np.array([0.0, 1e-12, -45.0, 89.999999])
    lons = np.array([180.0, -180.0, -45.0 + 180.0, 0.0])
    d = haversine_m_np(0.0, 0.0, lats, lons)
    assert not np.isnan(d).any()
    assert not math.isnan(haversine_m(45.0, 135.0, -45.0, -45.0))


# ---- unit sphere and chords -------------------------------------------------------------------


def test_to_unit_xyz_is_unit_length_and_oriented():
    xyz = to_unit_xyz([0.0, 0.0, 90.0, -90.0, 0.0], [0.0, 90.0, 0.0, 0.0, 180.0])
    assert xyz.shape == (5, 3)
    np.testing.assert_allclose(
        xyz, [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, -1], [-1, 0, 0]], atol=1e-15
    )
    rng = np.random.default_rng(2)
    many = to_unit_xyz(rng.uniform(-90, 90, 1000), rng.uniform(-180, 180, 1000))
    np.testing.assert_allclose(np.linalg.norm(many, axis=1), 1.0, rtol=1e-15)
    assert to_unit_xyz(21.0, 106.0).shape == (1, 3)


def test_chord_round_trip_and_monotonic():
    d = np.array([0.0, 1.0, 100.0, 2000.0, 1e6, 1e7, math.pi * EARTH_RADIUS_M])
    c = chord_for_distance_m(d)
    assert np.all(np.diff(c) > 0)
    np.testing.assert_allclose(distance_m_for_chord(c), d, rtol=1e-9, atol=1e-6)
    assert chord_for_distance_m(math.pi * EARTH_RADIUS_M) == pytest.approx(2.0)
    assert chord_for_distance_m(1e9) == pytest.approx(2.0)  # past the antipode: clamped
    assert isinstance(chord_for_distance_m(2000.0), float)


def test_chord_between_unit_vectors_gives_haversine():
    rng = np.random.default_rng(3)
    lats = rng.uniform(-90, 90, 500)
    lons = rng.uniform(-180, 180, 500)
    xyz = to_unit_xyz(lats, lons)
    q = to_unit_xyz(21.27, 106.19)[0]
    via_chord = distance_m_for_chord(np.linalg.norm(xyz - q, axis=1))
    expected = haversine_m_np(21.27, 106.19, lats, lons)
    np.testing.assert_allclose(via_chord, expected, rtol=1e-7, atol=1e-3)


# ---- rounding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "d, expected",
    [
        (0, 0),
        (49.9, 0),
        (50, 100),
        (149.99, 100),
        (150, 200),
        (250, 300),
        (1234.5, 1200),
        (1950, 2000),
    ],
)
def test_round_distance_to_100m(d, expected):
    assert round_distance_m(d) == expected
    assert isinstance(round_distance_m(d), int)


def test_round_distance_np_matches_scalar():
    d = np.array([0, 49.9, 50, 149.99, 150, 250, 1234.5, 1950, 1999.9999])
    got = round_distance_m_np(d)
    assert got.dtype == np.int64
    assert got.tolist() == [round_distance_m(x) for x in d.tolist()]
    assert round_distance_m(np.float64(1950.0)) == 2000
    with pytest.raises(ValueError):
        round_distance_m_np([1.0, float("nan")])
    with pytest.raises(ValueError):
        round_distance_m_np([-1.0])


def test_round_distance_other_step_and_invalid():
    assert round_distance_m(1234, step=500) == 1000
    for bad in (-1, float("nan"), float("inf"), None, "x"):
        with pytest.raises(ValueError):
            round_distance_m(bad)


# ---- bounding boxes -------------------------------------------------------------------------


def check_boxes_cover(lat, lon, radius_m, rng, n=400):
    boxes = bbox_for_radius(lat, lon, radius_m)
    assert 1 <= len(boxes) <= 2
    for min_lat, min_lon, max_lat, max_lon in boxes:
        assert -90 <= min_lat <= max_lat <= 90
        assert -180 <= min_lon <= max_lon <= 180
    # Random points inside the circle, plus points right on its edge in every direction.
    bearings = np.concatenate([rng.uniform(0, 2 * math.pi, n), np.linspace(0, 2 * math.pi, n)])
    dists = np.concatenate([radius_m * np.sqrt(rng.uniform(0, 1, n)), np.full(n, radius_m)])
    plats, plons = destination(lat, lon, bearings, dists)
    within = haversine_m_np(lat, lon, plats, plons) <= radius_m
    assert in_boxes(plats[within], plons[within], boxes).all(), (lat, lon, radius_m, boxes)
    # Uniform random points anywhere near: those within the radius must be covered too.
    span = min(180.0, 3 * math.degrees(radius_m / EARTH_RADIUS_M) + 1e-6)
    qlats = np.clip(lat + rng.uniform(-span, span, n), -90, 90)
    qlons = (lon + rng.uniform(-2 * span, 2 * span, n) + 180) % 360 - 180
    within = haversine_m_np(lat, lon, qlats, qlons) <= radius_m
    assert in_boxes(qlats[within], qlons[within], boxes).all(), (lat, lon, radius_m, boxes)
    return boxes


def test_bbox_property_random_centres_everywhere():
    rng = np.random.default_rng(4)
    centres = np.column_stack(
        [np.degrees(np.arcsin(rng.uniform(-1, 1, 300))), rng.uniform(-180, 180, 300)]
    )
    special = [
        (0.0, 180.0),
        (0.0, -180.0),
        (10.0, 179.99),
        (-10.0, -179.99),
        (89.9, 0.0),
        (-89.9, 45.0),
        (90.0, 0.0),
        (-90.0, 0.0),
        (89.99, 179.99),
        (21.273, 106.194),
        (65.0, -179.0),
    ]
    radii = [0.0, 1.0, 150.0, 2000.0, 50_000.0, 1_000_000.0, 5_000_000.0]
    for lat, lon in list(map(tuple, centres)) + special:
        for r in radii:
            check_boxes_cover(lat, lon, r, rng, n=60)


def test_bbox_simple_case_is_one_tight_box():
    (box,) = bbox_for_radius(21.273, 106.194, 2000)
    min_lat, min_lon, max_lat, max_lon = box
    # 2 km is 0.018 degrees of latitude and ~0.0193 of longitude at 21 N.
    assert max_lat - min_lat == pytest.approx(2 * 0.017986, rel=1e-3)
    expected_lon_span = 2 * 0.017986 / math.cos(math.radians(21.273))
    assert max_lon - min_lon == pytest.approx(expected_lon_span, rel=1e-3)


def test_bbox_splits_at_antimeridian():
    boxes = bbox_for_radius(0.0, 179.99, 5000)
    assert len(boxes) == 2
    east, west = boxes
    assert east[3] == 180.0 and west[1] == -180.0
    assert west[3] == pytest.approx(179.99 + 0.044966 - 360, abs=1e-4)
    assert east[1] == pytest.approx(179.99 - 0.044966, abs=1e-4)
    boxes = bbox_for_radius(0.0, -180.0, 1000)
    assert len(boxes) == 2


def test_bbox_covers_all_longitudes_when_the_circle_contains_a_pole():
    for lat, r in [(89.9, 20_000), (-89.95, 10_000), (90.0, 0.0), (89.0, 200_000)]:
        boxes = bbox_for_radius(lat, 10.0, r)
        assert len(boxes) == 1
        min_lat, min_lon, max_lat, max_lon = boxes[0]
        assert (min_lon, max_lon) == (-180.0, 180.0)
        assert max_lat == 90.0 if lat > 0 else min_lat == -90.0
    # Near the pole but not containing it: still a limited longitude range.
    (box,) = bbox_for_radius(80.0, 10.0, 100_000)
    assert box[3] - box[1] < 20


def test_bbox_huge_radius_is_whole_world():
    assert bbox_for_radius(10, 20, 3e7) == [(-90.0, -180.0, 90.0, 180.0)]


@pytest.mark.parametrize(
    "args",
    [
        (float("nan"), 0, 1),
        (0, float("nan"), 1),
        (91, 0, 1),
        (-90.5, 0, 1),
        (0, 180.01, 1),
        (0, -181, 1),
        (0, 0, -1),
        (0, 0, float("nan")),
        ("a", 0, 1),
        (None, 0, 1),
    ],
)
def test_bbox_invalid_input(args):
    with pytest.raises(ValueError):
        bbox_for_radius(*args)
