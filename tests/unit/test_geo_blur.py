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
    [
        (21.273, 106.194),
        (0.0, 0.0),
        (-33.9, 151.2),
        (0.0, 179.999),
        (0.0, -180.0),
        (89.999, 10.0),
        (-89.9999, -170.0),
        (90.0, 0.0),
    ],
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


# -- blur_candidates: seeded by a fixed grid cell ------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from connect.geo import blur_candidates  # noqa: E402
from connect.geo.blur import (  # noqa: E402
    CANDIDATES,
    CELLS_PER_DEGREE,
    blur_cell,
    cell_centre,
    cell_radius_m,
    cell_seed,
)

KEY = b"blur-secret-for-tests"
CELL = 1.0 / CELLS_PER_DEGREE
latitudes = st.one_of(
    st.floats(-90.0, 90.0),
    # Near the poles, where a cell is a sliver, and on them.
    st.floats(89.99, 90.0),
    st.floats(-90.0, -89.99),
    st.sampled_from([90.0, -90.0, 0.0]),
)
longitudes = st.one_of(
    st.floats(-180.0, 180.0),
    # Both sides of the antimeridian, and on it.
    st.floats(179.99, 180.0),
    st.floats(-180.0, -179.99),
    st.sampled_from([180.0, -180.0]),
)
keys = st.binary(min_size=1, max_size=64)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(latitudes, longitudes, keys)
def test_every_candidate_is_150_to_400_m_from_the_exact_point(lat, lon, key):
    # The annulus is measured from the cell centre; the point can be anywhere in the cell.
    candidates = blur_candidates(lat, lon, key)
    assert len(candidates) == CANDIDATES
    for blat, blon in candidates:
        assert -90.0 <= blat <= 90.0 and -180.0 <= blon < 180.0
        d = haversine_m(lat, lon, blat, blon)
        # 5 m of margin on each side: the API prints 5 decimals (about 1 m).
        assert 155.0 - 1e-6 <= d <= 395.0 + 1e-6, (lat, lon, d)


@settings(max_examples=1000, deadline=None)
@given(latitudes, longitudes)
def test_a_point_is_in_its_cell_within_the_cell_radius(lat, lon):
    centre = cell_centre(blur_cell(lat, lon))
    assert -90.0 < centre[0] < 90.0 and -180.0 < centre[1] < 180.0
    assert haversine_m(lat, lon, *centre) <= cell_radius_m() + 1e-6
    assert cell_radius_m() < 39.5  # what the 195-355 m annulus from the centre allows for


def test_cell_radius_is_reached_at_the_corners_of_an_equator_cell():
    corner = haversine_m(0.0, 0.0, *cell_centre(blur_cell(0.0, 0.0)))
    assert corner == pytest.approx(cell_radius_m(), rel=1e-6)


def test_cells_wrap_at_the_antimeridian_and_stop_at_the_poles():
    assert blur_cell(0.0, 180.0) == blur_cell(0.0, -180.0)
    assert blur_cell(90.0, 0.0) == blur_cell(90.0 - CELL / 4, 0.0)
    assert blur_cell(-90.0, 0.0)[0] == 0
    assert cell_centre(blur_cell(21.2731, 106.1946)) == pytest.approx((21.27325, 106.19475))


def test_candidates_are_deterministic_and_shared_by_the_whole_cell():
    lat, lon = 21.27312, 106.19461
    first = blur_candidates(lat, lon, KEY)
    assert blur_candidates(lat, lon, KEY) == first
    assert blur_candidates(lat, lon, bytearray(KEY)) == first
    # Anywhere else in the same cell: the same points (one house, one blur).
    row, column = blur_cell(lat, lon)
    south, west = (
        cell_centre((row, column))[0] - CELL / 2,
        cell_centre((row, column))[1] - CELL / 2,
    )
    for fy, fx in ((0.01, 0.01), (0.99, 0.5), (0.5, 0.99), (0.3, 0.7)):
        assert blur_candidates(south + fy * CELL, west + fx * CELL, KEY) == first
    assert blur_candidates(lat, lon, b"another key") != first
    assert len(set(first)) == CANDIDATES


def test_the_candidate_sequence_is_a_fixed_sequence_per_cell():
    lat, lon = 21.27312, 106.19461
    sixteen = blur_candidates(lat, lon, KEY)
    assert blur_candidates(lat, lon, KEY, count=4) == sixteen[:4]
    cell = blur_cell(lat, lon)
    centre = cell_centre(cell)
    # Candidate k is the k-th seed of the cell, 195-355 m from its centre.
    for attempt, candidate in enumerate(sixteen):
        assert candidate == blur_point(*centre, cell_seed(KEY, cell, attempt), 195.0, 355.0)
        assert 195.0 - 1e-6 <= haversine_m(*centre, *candidate) <= 355.0 + 1e-6
    assert len({cell_seed(KEY, cell, k) for k in range(100)}) == 100


def test_different_cells_get_unrelated_offsets():
    # Offsets (public minus exact) of neighbouring cells: a claimant who knew one point and
    # its blur cannot undo the blur after the pin moves to another cell.
    rng = np.random.default_rng(4)
    lat0, lon0 = 21.2731, 106.1946
    same, dots = 0, []
    for _ in range(2000):
        lat = lat0 + rng.uniform(-0.05, 0.05)
        lon = lon0 + rng.uniform(-0.05, 0.05)
        moved = (lat + rng.choice([-1, 1]) * CELL, lon)  # the next cell north or south
        a = np.subtract(blur_candidates(lat, lon, KEY, count=1)[0], (lat, lon))
        b = np.subtract(blur_candidates(*moved, KEY, count=1)[0], moved)
        same += np.allclose(a, b, atol=1e-4)  # the same offset, within 10 m
        dots.append(float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
    assert same < 20  # chance alone gives ~0.2 %
    assert abs(np.mean(dots)) < 0.06  # the cosine of the two offsets averages to ~0


def test_pins_from_one_house_cannot_be_averaged_back_to_it():
    # Many requests, each pinned a few metres apart in one cell: they all get the same point,
    # so their mean is that point, at least 150 m from every pin.
    rng = np.random.default_rng(7)
    centre = cell_centre(blur_cell(21.2731, 106.1946))
    pins = [
        (centre[0] + rng.uniform(-0.4, 0.4) * CELL, centre[1] + rng.uniform(-0.4, 0.4) * CELL)
        for _ in range(50)
    ]
    public = np.array([blur_candidates(*pin, KEY, count=1)[0] for pin in pins])
    assert np.all(public == public[0])
    mean = public.mean(axis=0)
    assert min(haversine_m(*pin, *mean) for pin in pins) >= 150.0


def test_each_household_in_a_cell_gets_its_own_fixed_point():
    # The same phone in one cell: always the same point; another phone: an unrelated one,
    # so matching public points cannot be used to find someone's cell.
    lat, lon = 21.27312, 106.19461
    mine = blur_candidates(lat, lon, KEY, household=b"+84912345678")
    assert blur_candidates(lat + CELL / 10, lon, KEY, household=b"+84912345678") == mine
    theirs = blur_candidates(lat, lon, KEY, household=b"+84987654321")
    assert not set(mine) & set(theirs)
    centre = cell_centre(blur_cell(lat, lon))
    assert all(195.0 - 1e-6 <= haversine_m(*centre, *p) <= 355.0 + 1e-6 for p in theirs)


@pytest.mark.parametrize("key", [b"", "text", None])
def test_candidates_need_a_secret_key(key):
    with pytest.raises(ValueError):
        blur_candidates(21.0, 106.0, key)
