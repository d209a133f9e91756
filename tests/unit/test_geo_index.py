"""PointIndex answers must equal brute-force haversine over the same points."""

import math

import numpy as np
import pytest

from connect.geo import EARTH_RADIUS_M, PointIndex, haversine_m_np

HALF_EARTH_M = math.pi * EARTH_RADIUS_M
TOL_M = 1e-6  # index (chord) and brute force (haversine) agree far closer than this


class Brute:
    """Reference answers by haversine over every point."""

    def __init__(self, ids, lats, lons):
        self.ids = np.asarray(ids, dtype=np.int64)
        self.lats = np.asarray(lats, dtype=np.float64)
        self.lons = np.asarray(lons, dtype=np.float64)

    def distances(self, lat, lon):
        return haversine_m_np(lat, lon, self.lats, self.lons)

    def answer(self, lat, lon, k=None, radius=None, mask=None):
        d = self.distances(lat, lon)
        sel = np.ones(d.size, dtype=bool) if mask is None else mask.copy()
        if radius is not None:
            sel &= d <= radius
        ids, d = self.ids[sel], d[sel]
        order = np.lexsort((ids, d))
        if k is not None:
            order = order[:k]
        return (
            ids[order],
            d[order],
            dict(zip(self.ids.tolist(), self.distances(lat, lon).tolist())),
        )


def assert_same(got, expected):
    got_ids, got_d = got
    exp_ids, exp_d, dist_of = expected
    assert got_ids.dtype == np.int64 and got_d.dtype == np.float64
    assert got_ids.shape == exp_ids.shape, (got_ids[:10], exp_ids[:10])
    np.testing.assert_allclose(got_d, exp_d, rtol=1e-9, atol=TOL_M)
    assert len(set(got_ids.tolist())) == got_ids.size
    # Every returned distance is that id's true distance, ascending, ties by id.
    np.testing.assert_allclose(
        got_d, [dist_of[i] for i in got_ids.tolist()], rtol=1e-9, atol=TOL_M
    )
    assert np.all(np.diff(got_d) >= 0)
    tie = np.diff(got_d) == 0
    assert np.all(np.diff(got_ids)[tie] > 0)
    if not np.array_equal(got_ids, exp_ids):
        # Only a near-tie (beyond float rounding) may legitimately swap two ids.
        diff = np.flatnonzero(got_ids != exp_ids)
        assert np.all(np.abs(got_d[diff] - exp_d[diff]) <= TOL_M), (got_ids[diff], exp_ids[diff])


def uniform_sphere(rng, n):
    return np.degrees(np.arcsin(rng.uniform(-1, 1, n))), rng.uniform(-180, 180, n)


def antimeridian_band(rng, n):
    lats = rng.uniform(-5, 5, n)
    lons = rng.uniform(179.0, 181.0, n)
    lons = np.where(lons > 180.0, lons - 360.0, lons)
    lons[:4] = [180.0, -180.0, 180.0, -180.0]
    return lats, lons


def polar_cap(rng, n, north=True):
    lats = 90.0 - np.degrees(np.arccos(rng.uniform(math.cos(math.radians(0.3)), 1, n)))
    lats[:3] = 90.0  # exactly the pole, at different longitudes
    lons = rng.uniform(-180, 180, n)
    return (lats, lons) if north else (-lats, lons)


def clustered(rng, n):
    centres = np.array([[21.273, 106.194], [21.270, 106.090], [21.355, 105.975]])
    c = centres[rng.integers(0, len(centres), n)]
    lats = c[:, 0] + rng.normal(0, 0.004, n)  # ~450 m
    lons = c[:, 1] + rng.normal(0, 0.004, n)
    # Households with several requests: exact duplicates make exact distance ties.
    lats[-200:] = lats[:200]
    lons[-200:] = lons[:200]
    lats[-250:-200] = 21.273
    lons[-250:-200] = 106.194
    return lats, lons


DATASETS = {
    "global": (uniform_sphere, [1, 7, 50], [0.0, 100.0, 50_000.0, 1_000_000.0, HALF_EARTH_M]),
    "antimeridian": (antimeridian_band, [1, 10, 50], [0.0, 2_000.0, 30_000.0, 200_000.0]),
    "north_pole": (lambda r, n: polar_cap(r, n, True), [1, 10, 50], [0.0, 2e3, 2e4, 6e4]),
    "south_pole": (lambda r, n: polar_cap(r, n, False), [1, 10, 50], [2e3, 2e4, 6e4]),
    "clustered": (clustered, [1, 10, 50, 300], [0.0, 50.0, 300.0, 2_000.0]),
}


def build(name, n=3000, seed=0):
    rng = np.random.default_rng(seed)
    gen = DATASETS[name][0]
    lats, lons = gen(rng, n)
    ids = rng.choice(10 * n, size=n, replace=False).astype(np.int64) - 5 * n  # negative ids too
    qlats, qlons = gen(np.random.default_rng(seed + 100), 60)
    return PointIndex.from_arrays(ids, lats, lons), Brute(ids, lats, lons), qlats, qlons


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_knn_equals_brute_force(name):
    index, brute, qlats, qlons = build(name)
    assert len(index) == brute.ids.size
    for lat, lon in zip(qlats, qlons):
        for k in DATASETS[name][1]:
            assert_same(index.nearest(lat, lon, k), brute.answer(lat, lon, k=k))


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_bounded_knn_equals_brute_force(name):
    index, brute, qlats, qlons = build(name, seed=1)
    for lat, lon in zip(qlats, qlons):
        for r in DATASETS[name][2]:
            got = index.nearest(lat, lon, 50, max_distance_m=r)
            assert_same(got, brute.answer(lat, lon, k=50, radius=r))


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_within_equals_brute_force(name):
    index, brute, qlats, qlons = build(name, seed=2)
    for lat, lon in zip(qlats, qlons):
        for r in DATASETS[name][2]:
            assert_same(index.within(lat, lon, r), brute.answer(lat, lon, radius=r))


def test_queries_at_exact_poles_and_antimeridian():
    rng = np.random.default_rng(5)
    lats, lons = uniform_sphere(rng, 2000)
    band_lats, band_lons = antimeridian_band(rng, 300)
    lats = np.concatenate([lats, polar_cap(rng, 300)[0], polar_cap(rng, 300, False)[0], band_lats])
    lons = np.concatenate([lons, rng.uniform(-180, 180, 600), band_lons])
    ids = np.arange(lats.size, dtype=np.int64)
    index, brute = PointIndex.from_arrays(ids, lats, lons), Brute(ids, lats, lons)
    for lat, lon in [
        (90, 0),
        (90, 123),
        (-90, -45),
        (0, 180),
        (0, -180),
        (45, 180),
        (-30, -180),
        (89.9, 179.9),
    ]:
        assert_same(index.nearest(lat, lon, 25), brute.answer(lat, lon, k=25))
        assert_same(index.within(lat, lon, 500_000), brute.answer(lat, lon, radius=500_000))


def test_knn_is_not_planar_degree_order_at_21n():
    # A point 0.010 deg east (~1.04 km) is nearer than one 0.0098 deg north (~1.09 km).
    index = PointIndex.from_arrays([1, 2], [21.0098, 21.0], [106.0, 106.010])
    ids, d = index.nearest(21.0, 106.0, 2)
    assert ids.tolist() == [2, 1]
    assert d[0] < d[1]


def test_ties_are_ordered_by_id_and_cut_at_k():
    # 5000 points at one spot: more ties than the default result buffer holds.
    n = 5000
    ids = np.random.default_rng(6).permutation(n).astype(np.int64) * 3
    index = PointIndex.from_arrays(ids, np.full(n, 21.3), np.full(n, 106.2))
    got, d = index.nearest(21.31, 106.2, 10)
    assert got.tolist() == sorted(ids.tolist())[:10]
    assert np.all(d == d[0])
    got, d = index.within(21.3, 106.2, 0.0)
    assert got.tolist() == sorted(ids.tolist())
    got, d = index.nearest(21.3, 106.2, n + 10)
    assert got.size == n


def test_k_larger_than_index_and_k_zero():
    index = PointIndex.from_arrays([3, 1, 2], [0, 0, 0], [0, 1, 2])
    ids, d = index.nearest(0, 0, 10)
    assert ids.tolist() == [3, 1, 2]
    ids, d = index.nearest(0, 0, 0)
    assert ids.size == 0 and d.size == 0 and ids.dtype == np.int64
    ids, d = index.nearest(0, 0, 10, max_distance_m=120_000)
    assert ids.tolist() == [3, 1]


def test_empty_index():
    for index in (PointIndex(), PointIndex.from_arrays([], [], [])):
        assert len(index) == 0
        assert 5 not in index
        answers = (
            index.nearest(0, 0, 5),
            index.within(0, 0, 1e7),
            index.nearest(1, 1, 5, 10.0, lambda a: a > 0),
        )
        for ids, d in answers:
            assert ids.size == 0 and d.size == 0
        assert index.delete(5) is False


# ---- accept filter -----------------------------------------------------------------------------


def test_accept_filter_widens_until_k_accepted():
    rng = np.random.default_rng(7)
    n = 4000
    lats, lons = clustered(rng, n)
    ids = np.arange(100, 100 + n, dtype=np.int64)
    category = rng.choice(4, size=n, p=[0.85, 0.1, 0.04, 0.01])
    cat_by_id = np.full(100 + n, -1)
    cat_by_id[ids] = category
    index, brute = PointIndex.from_arrays(ids, lats, lons), Brute(ids, lats, lons)
    calls = []

    def accept_for(c):
        def accept(cand):
            calls.append(cand.size)
            assert cand.dtype == np.int64
            return cat_by_id[cand] == c

        return accept

    for lat, lon in zip(*clustered(np.random.default_rng(8), 30)):
        for c in range(4):
            for k, r in [(10, None), (50, None), (20, 2_000.0), (5, 300.0)]:
                got = index.nearest(lat, lon, k, max_distance_m=r, accept=accept_for(c))
                assert_same(got, brute.answer(lat, lon, k=k, radius=r, mask=category == c))
    assert max(calls) > 50  # rare categories made it widen


def test_accept_rejecting_everything_terminates():
    index = PointIndex.from_arrays(np.arange(1000), np.linspace(-80, 80, 1000), np.zeros(1000))
    ids, d = index.nearest(0, 0, 5, accept=lambda a: np.zeros(a.size, dtype=bool))
    assert ids.size == 0
    ids, d = index.nearest(0, 0, 5, max_distance_m=1e6, accept=lambda a: a % 100 == 0)
    assert ids.tolist() == [500]


def test_accept_must_return_a_mask_of_the_right_length():
    index = PointIndex.from_arrays([1, 2, 3], [0, 0, 0], [0, 1, 2])
    with pytest.raises(ValueError):
        index.nearest(0, 0, 2, accept=lambda a: np.ones(a.size + 1, dtype=bool))


# ---- mutation ------------------------------------------------------------------------------------


def test_insert_delete_replace_match_a_model():
    rng = np.random.default_rng(9)
    n = 2000
    lats, lons = clustered(rng, n)
    ids = rng.choice(1_000_000, size=n, replace=False).astype(np.int64)
    model = {int(i): (float(a), float(b)) for i, a, b in zip(ids, lats, lons)}
    index = PointIndex.from_arrays(ids, lats, lons)
    deleted_base = []
    for step in range(3000):
        op = rng.random()
        lat, lon = 21.27 + rng.normal(0, 0.01), 106.19 + rng.normal(0, 0.01)
        if op < 0.3:  # new id
            new = int(rng.integers(-(2**62), 2**62))
            index.insert(new, lat, lon)
            model[new] = (lat, lon)
        elif op < 0.55:  # replace an existing id
            key = list(model)[int(rng.integers(len(model)))]
            index.insert(key, lat, lon)
            model[key] = (lat, lon)
        elif op < 0.85:  # delete an existing id
            key = list(model)[int(rng.integers(len(model)))]
            assert index.delete(key) is True
            assert index.delete(key) is False
            del model[key]
            deleted_base.append(key)
        elif deleted_base:  # bring back a deleted id
            key = deleted_base.pop(int(rng.integers(len(deleted_base))))
            if key not in model:
                index.insert(key, lat, lon)
                model[key] = (lat, lon)
        if step % 500 == 0 or step == 2999:
            m_ids = np.array(list(model), dtype=np.int64)
            m_lat = np.array([model[i][0] for i in m_ids.tolist()])
            m_lon = np.array([model[i][1] for i in m_ids.tolist()])
            brute = Brute(m_ids, m_lat, m_lon)
            assert len(index) == len(model)
            for qlat, qlon in zip(*clustered(np.random.default_rng(step), 10)):
                assert_same(index.nearest(qlat, qlon, 30), brute.answer(qlat, qlon, k=30))
                assert_same(
                    index.within(qlat, qlon, 500.0), brute.answer(qlat, qlon, radius=500.0)
                )
    for key in list(model)[:200]:
        assert key in index
        assert index.location(key) == model[key]
    for key in deleted_base[:50]:
        if key not in model:
            assert key not in index
            with pytest.raises(KeyError):
                index.location(key)


def test_insert_into_empty_index_and_replace_moves_the_point():
    index = PointIndex()
    index.insert(7, 21.0, 106.0)
    index.insert(8, 21.0, 106.001)
    assert len(index) == 2 and 7 in index and 9 not in index
    index.insert(7, 10.0, -170.0)  # replace: moves, does not duplicate
    assert len(index) == 2
    assert index.location(7) == (10.0, -170.0)
    ids, _ = index.nearest(21.0, 106.0, 5)
    assert ids.tolist() == [8, 7]
    ids, _ = index.within(21.0, 106.0, 1000)
    assert ids.tolist() == [8]
    assert index.delete(7) is True
    assert index.nearest(10.0, -170.0, 1)[0].tolist() == [8]
    for i in range(100):  # slot reuse and growth
        index.insert(1000 + i, 0.0, i * 0.01)
    for i in range(0, 100, 2):
        index.delete(1000 + i)
    for i in range(50):
        index.insert(5000 + i, 1.0, i * 0.01)
    assert len(index) == 1 + 50 + 50
    assert index.nearest(1.0, 0.0, 1)[0].tolist() == [5000]
    assert index.nearest(0.0, 0.0, 1)[0].tolist() == [1001]


def test_numpy_integer_ids_and_extremes():
    ids = np.array([2**63 - 1, -(2**63), 0], dtype=np.int64)
    index = PointIndex.from_arrays(ids, [1, 2, 3], [1, 2, 3])
    assert np.int64(2**63 - 1) in index and -(2**63) in index
    assert index.location(np.int32(0)) == (3.0, 3.0)
    assert index.nearest(2, 2, 1)[0].tolist() == [-(2**63)]
    index.insert(np.uint8(5), 4, 4)
    assert 5 in index
    assert 2**63 not in index and "x" not in index


# ---- invalid input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lat, lon",
    [
        (float("nan"), 0),
        (0, float("nan")),
        (90.0001, 0),
        (-91, 0),
        (0, 180.0001),
        (0, -181),
        (float("inf"), 0),
        (None, 0),
        ("x", 1),
    ],
)
def test_invalid_points_raise(lat, lon):
    index = PointIndex.from_arrays([1], [0], [0])
    with pytest.raises(ValueError):
        index.nearest(lat, lon, 1)
    with pytest.raises(ValueError):
        index.within(lat, lon, 10)
    with pytest.raises(ValueError):
        index.insert(2, lat, lon)
    assert len(index) == 1
    with pytest.raises(ValueError):
        bad_lat = lat if isinstance(lat, float) else 95.0
        bad_lon = lon if isinstance(lon, float) else 0.0
        PointIndex.from_arrays([1, 2], [0, bad_lat], [0, bad_lon])


def test_invalid_k_radius_and_ids_raise():
    index = PointIndex.from_arrays([1, 2], [0, 1], [0, 1])
    for bad_k in (-1, 1.5, None, "3"):
        with pytest.raises(ValueError):
            index.nearest(0, 0, bad_k)
    for bad_r in (-1.0, float("nan"), "x"):
        with pytest.raises(ValueError):
            index.within(0, 0, bad_r)
        with pytest.raises(ValueError):
            index.nearest(0, 0, 1, max_distance_m=bad_r)
    for bad_id in (1.5, "1", None, 2**63):
        with pytest.raises(ValueError):
            index.insert(bad_id, 0, 0)
    with pytest.raises(ValueError):
        PointIndex.from_arrays([1, 1], [0, 1], [0, 1])  # duplicate id
    with pytest.raises(ValueError):
        PointIndex.from_arrays([1, 2], [0, 1], [0])  # length mismatch
    with pytest.raises(ValueError):
        PointIndex.from_arrays([1.0, 2.0], [0, 1], [0, 1])  # float ids
    with pytest.raises(ValueError):
        PointIndex.from_arrays(np.array([2**64 - 1], dtype=np.uint64), [0], [0])
    with pytest.raises(KeyError):
        index.location(99)


def test_infinite_radius_means_everything():
    index = PointIndex.from_arrays([1, 2, 3], [0, 45, -89], [0, 180, 10])
    assert index.within(0, 0, float("inf"))[0].tolist() == [1, 3, 2]  # 0, ~9,900 and ~15,000 km
    assert index.nearest(0, 0, 5, max_distance_m=float("inf"))[0].tolist() == [1, 3, 2]


def test_concurrent_queries_and_writes_from_threads():
    # gthread workers share one index: queries reuse per-index buffers, so they must not mix.
    import threading

    rng = np.random.default_rng(11)
    n = 3000
    lats, lons = clustered(rng, n)
    ids = np.arange(n, dtype=np.int64)
    index = PointIndex.from_arrays(ids, lats, lons)
    stable = Brute(ids[:2000], lats[:2000], lons[:2000])  # never touched by the writer
    queries = list(zip(*clustered(np.random.default_rng(12), 40)))
    expected = [stable.answer(la, lo, k=20, mask=None)[0] for la, lo in queries]
    errors = []
    stop = threading.Event()

    def reader():
        try:
            while not stop.is_set():
                for (la, lo), exp in zip(queries, expected):
                    got, d = index.nearest(la, lo, 20, accept=lambda a: a < 2000)
                    if not np.array_equal(got, exp):
                        errors.append((la, lo, got, exp))
                        return
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    def writer():
        w = np.random.default_rng(13)
        for _ in range(3000):
            key = int(w.integers(2000, 4000))
            if w.random() < 0.5:
                index.insert(key, 21.27 + w.normal(0, 0.01), 106.19 + w.normal(0, 0.01))
            else:
                index.delete(key)
        stop.set()

    threads = [threading.Thread(target=reader) for _ in range(3)] + [
        threading.Thread(target=writer)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:1]
