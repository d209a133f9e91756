"""Fair ranking: the score's promises, and the read model's bounded search against brute force."""

import math
from datetime import datetime, timedelta

import numpy as np
import pytest

from connect.geo import EARTH_RADIUS_M, haversine_m, haversine_m_np, ranking
from connect.geo.ranking import Weights, divisor, score, scores_np
from connect.matching.open_requests import OpenRequests, epoch
from connect.requests.categories import CATEGORIES

NOW = datetime(2026, 11, 26, 8, 0, 0)
HOUR = 3600.0
CENTRE = (21.2731, 106.1946)
DEFAULT = Weights()


def shifted(point, north_m=0.0, east_m=0.0):
    lat, lon = point
    return (
        lat + math.degrees(north_m / EARTH_RADIUS_M),
        lon + math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat)))),
    )


def row(id_, at, waited_s=0.0, urgent=False, categories=("food",), status="open", expires_in=None):
    """A read-model row (ROW_FIELDS order) posted waited_s before NOW."""
    created = NOW - timedelta(seconds=waited_s)
    expires = (
        NOW + timedelta(seconds=expires_in)
        if expires_in is not None
        else (created + timedelta(hours=72))
    )
    return (
        id_,
        status,
        list(categories),
        f"need {id_}",
        2,
        "urgent" if urgent else "normal",
        at[0],
        at[1],
        at[0] + 0.002,
        at[1] + 0.002,
        created,
        expires,
        None,
        "exact",
    )


def model(rows, weights=DEFAULT):
    requests = OpenRequests(72 * 3600, weights)
    requests.load(rows, epoch(NOW))
    return requests


def nearby_ids(requests, at=CENTRE, radius_m=5000.0, limit=50, categories=None, sort="rank"):
    ids, _ = requests.nearby(at[0], at[1], radius_m, limit, categories, epoch(NOW), sort)
    return ids.tolist()


# -- the score's promises ---------------------------------------------------------------------


def test_urgent_need_waiting_20_hours_at_1500_m_ranks_above_a_fresh_one_at_300_m():
    """The issue's example, with the default weights, by the score and in the read model."""
    assert score(1500, True, 20 * HOUR, DEFAULT) < score(300, False, 60, DEFAULT)
    old_urgent, fresh = 1, 2
    requests = model(
        [
            row(old_urgent, shifted(CENTRE, north_m=1500), 20 * HOUR, urgent=True),
            row(fresh, shifted(CENTRE, east_m=300), 60),
        ]
    )
    assert nearby_ids(requests) == [old_urgent, fresh]
    assert nearby_ids(requests, sort="distance") == [fresh, old_urgent]


def test_among_equals_the_order_is_plain_distance_order():
    """Same urgency and waiting time: ranked order is exactly nearest first (ties by id)."""
    rng = np.random.default_rng(1)
    for urgent, waited in ((False, 0.0), (True, 5 * HOUR), (False, 30 * HOUR)):
        distances = rng.uniform(0, 2000, 300)
        scores = scores_np(distances, np.full(300, urgent), np.full(300, waited), DEFAULT)
        assert np.array_equal(
            np.argsort(scores, kind="stable"), np.argsort(distances, kind="stable")
        )
        rows = [
            row(
                i + 1,
                shifted(CENTRE, north_m=float(d) * math.cos(a), east_m=float(d) * math.sin(a)),
                waited,
                urgent,
            )
            for i, (d, a) in enumerate(zip(distances, rng.uniform(0, 2 * math.pi, 300)))
        ]
        requests = model(rows)
        assert nearby_ids(requests, radius_m=2500, limit=200) == nearby_ids(
            requests, radius_m=2500, limit=200, sort="distance"
        )


def test_a_need_that_waited_long_is_not_starved_by_fresh_ones_nearby():
    """A need waiting a day at 1.5 km comes before 100 fresh ones from 300 m out."""
    old = 1000
    rows = [row(old, shifted(CENTRE, north_m=1500), 24 * HOUR)]
    rows += [row(i, shifted(CENTRE, east_m=300 + 2 * i), 60) for i in range(1, 101)]
    requests = model(rows)
    assert nearby_ids(requests, limit=10)[0] == old
    assert old not in nearby_ids(requests, limit=10, sort="distance")


def test_urgency_and_waiting_both_move_a_need_up_and_waiting_stops_at_the_cap():
    assert divisor(False, 0, DEFAULT) == 1.0
    assert divisor(True, 0, DEFAULT) > divisor(False, 0, DEFAULT)
    assert divisor(False, 10 * HOUR, DEFAULT) > divisor(False, 5 * HOUR, DEFAULT)
    cap = DEFAULT.wait_cap_hours * HOUR
    assert divisor(False, cap, DEFAULT) == divisor(False, 3 * cap, DEFAULT)
    assert divisor(True, cap, DEFAULT) == DEFAULT.max_divisor
    # A clock a little behind another host's never makes a fresh need rank worse than its distance.
    assert divisor(False, -30, DEFAULT) == 1.0
    assert score(0.0, False, 0, DEFAULT) == 0.0  # at your door is first, whatever else


def test_the_vectorised_score_is_bit_for_bit_the_scalar_one():
    rng = np.random.default_rng(2)
    for weights in (DEFAULT, Weights(2.5, 0.37, 11.0), Weights(0, 0, 0)):
        d = rng.uniform(0, 50_000, 500)
        urgent = rng.random(500) < 0.3
        waited = rng.uniform(-HOUR, 80 * HOUR, 500)
        vector = scores_np(d, urgent.astype(np.uint8), waited, weights)
        scalar = [
            score(*args, weights) for args in zip(d.tolist(), urgent.tolist(), waited.tolist())
        ]
        assert vector.tolist() == scalar
        divisors = d / vector
        assert (divisors[d > 0] <= weights.max_divisor * (1 + 1e-15)).all()


def test_weights_are_configurable_and_zero_weights_rank_by_distance():
    rows = [
        row(1, shifted(CENTRE, north_m=1500), 20 * HOUR, urgent=True),
        row(2, shifted(CENTRE, east_m=300), 60),
    ]
    assert nearby_ids(model(rows, Weights(0, 0, 24))) == [2, 1]
    assert nearby_ids(model(rows, Weights(urgent=10, wait_per_hour=0))) == [1, 2]
    config = {"RANK_URGENT_WEIGHT": 2, "RANK_WAIT_WEIGHT_PER_HOUR": 0.5, "RANK_WAIT_CAP_HOURS": 12}
    assert Weights.from_config(config) == Weights(2.0, 0.5, 12.0)
    assert Weights.from_config({}) == DEFAULT
    assert Weights.from_config(config).max_divisor == 1 + 2 + 0.5 * 12


@pytest.mark.parametrize(
    "bad",
    [
        {"urgent": -1},
        {"wait_per_hour": float("nan")},
        {"wait_cap_hours": float("inf")},
        {"urgent": "1"},
    ],
)
def test_bad_weights_are_refused(bad):
    with pytest.raises(ValueError):
        Weights(**bad)


def test_equal_ranks_go_nearest_first_then_by_id():
    # Fresh: 300 m normal and 600 m urgent rank the same, 300 effective metres.
    assert score(300.0, False, 0, DEFAULT) == score(600.0, True, 0, DEFAULT) == 300.0
    ids, distances = np.array([5, 9, 1]), np.array([600.0, 300.0, 600.0])
    ranks = scores_np(distances, np.array([1, 0, 1]), np.zeros(3), DEFAULT)
    assert ids[ranking.order(ids, distances, ranks)].tolist() == [9, 1, 5]


def test_ties_are_settled_by_id_in_both_sorts():
    """Requests at one point with the same urgency and age: by id, the same every time."""
    at = shifted(CENTRE, north_m=400)
    ids = [17, 3, 250, 42, 8, 99, 1]
    rows = [row(i, at, 2 * HOUR) for i in ids]
    requests = model(rows)
    for sort in ranking.SORTS:
        assert nearby_ids(requests, limit=4, sort=sort) == sorted(ids)[:4]
        assert nearby_ids(requests, limit=20, sort=sort) == sorted(ids)


def test_an_unknown_sort_is_refused():
    with pytest.raises(ValueError):
        nearby_ids(model([row(1, CENTRE)]), sort="age")


# -- the bounded search is exact ---------------------------------------------------------------


def _dataset(rng, n, ages):
    """n requests: dense clusters (some on one exact point), the rest spread out; ages
    "mixed" (up to 60 h), "fresh" (all in the last hour) or "local" (one cluster fresh)."""
    lats, lons = np.empty(n), np.empty(n)
    n_cluster = int(n * 0.8)
    m_per_deg = math.pi * EARTH_RADIUS_M / 180
    centres = [
        shifted(CENTRE, north_m=n_, east_m=e) for n_, e in ((0, 0), (900, -700), (-1500, 2000))
    ]
    which = rng.integers(0, len(centres), n_cluster)
    sigma = np.array([150.0, 400.0, 60.0])[which]
    c = np.array(centres)[which]
    lats[:n_cluster] = c[:, 0] + rng.standard_normal(n_cluster) * sigma / m_per_deg
    lons[:n_cluster] = c[:, 1] + rng.standard_normal(n_cluster) * sigma / (
        m_per_deg * math.cos(math.radians(CENTRE[0]))
    )
    lats[n_cluster:] = CENTRE[0] + rng.uniform(-0.05, 0.05, n - n_cluster)
    lons[n_cluster:] = CENTRE[1] + rng.uniform(-0.05, 0.05, n - n_cluster)
    # A block of flats: many households on one exact point.
    lats[:40], lons[:40] = centres[0]
    waited = rng.uniform(0, HOUR if ages == "fresh" else 60 * HOUR, n)
    if ages == "local":
        waited[:n_cluster][which == 0] = rng.uniform(0, HOUR, np.count_nonzero(which == 0))
    urgent = rng.random(n) < 0.2
    cats = rng.integers(0, len(CATEGORIES), n)
    expired = rng.random(n) < 0.03  # expired since the last sweep: never listed
    rows = [
        (
            i + 1,
            "open",
            [CATEGORIES[cats[i]]],
            "x",
            1,
            "urgent" if urgent[i] else "normal",
            float(lats[i]),
            float(lons[i]),
            float(lats[i]),
            float(lons[i]),
            NOW - timedelta(seconds=float(waited[i])),
            NOW - timedelta(seconds=1) if expired[i] else NOW + timedelta(hours=12),
            None,
            "exact",
        )
        for i in range(n)
    ]
    return rows, lats, lons, waited, urgent, cats, expired


def _brute_force(data, at, radius_m, limit, categories, weights, sort):
    rows, lats, lons, waited, urgent, cats, expired = data
    ids = np.arange(1, len(rows) + 1)
    d = haversine_m_np(at[0], at[1], lats, lons)
    keep = (d <= radius_m) & ~expired
    if categories:
        keep &= np.isin(cats, [CATEGORIES.index(c) for c in categories])
    ids, d, waited_k, urgent_k = ids[keep], d[keep], waited[keep], urgent[keep]
    # The read model stores whole seconds of the posting time, as the database does.
    waited_k = epoch(NOW) - np.array(
        [int(epoch(NOW - timedelta(seconds=float(w)))) for w in waited_k]
    )
    if sort == "distance":
        order = np.lexsort((ids, d))[:limit]
    else:
        order = ranking.order(ids, d, scores_np(d, urgent_k, waited_k, weights))[:limit]
    return ids[order].tolist(), d[order]


@pytest.mark.parametrize("ages", ["mixed", "fresh", "local"])
@pytest.mark.parametrize("weights", [DEFAULT, Weights(3.0, 0.5, 48.0), Weights(0.0, 0.0, 0.0)])
def test_ranked_nearby_matches_brute_force(ages, weights):
    """Random queries over dense clusters and spread-out requests: the same list as ranking
    every request in the radius, for limits 1-200, radii 50 m-50 km, with and without a filter."""
    rng = np.random.default_rng(len(ages))
    data = _dataset(rng, 6000, ages)
    requests = model(data[0], weights)
    for _ in range(120):
        at = shifted(CENTRE, north_m=rng.uniform(-3000, 3000), east_m=rng.uniform(-3000, 3000))
        radius_m = float(rng.choice([50, 300, 2000, 5000, 50_000]))
        limit = int(rng.choice([1, 7, 50, 200]))
        categories = [CATEGORIES[0]] if rng.random() < 0.3 else None
        for sort in ranking.SORTS:
            got, got_d = requests.nearby(
                at[0], at[1], radius_m, limit, categories, epoch(NOW), sort
            )
            want, want_d = _brute_force(data, at, radius_m, limit, categories, weights, sort)
            assert got.tolist() == want, (at, radius_m, limit, categories, sort)
            assert np.allclose(got_d, want_d, atol=1e-6)


def test_ranked_search_does_not_list_the_whole_radius_of_a_dense_cluster():
    """20,000 requests within 2 km: the ranked top 50 looks at a few hundred of them."""
    rng = np.random.default_rng(5)
    n = 20_000
    d = 2000 * np.sqrt(rng.random(n))
    a = rng.uniform(0, 2 * math.pi, n)
    rows = [
        row(
            i + 1,
            shifted(
                CENTRE, north_m=float(d[i] * math.cos(a[i])), east_m=float(d[i] * math.sin(a[i]))
            ),
            float(rng.uniform(0, 48 * HOUR)),
            bool(rng.random() < 0.2),
        )
        for i in range(n)
    ]
    requests = model(rows)
    asked = []
    nearest = requests._index.nearest

    def counting(*args, **kwargs):
        asked.append(args[2])
        return nearest(*args, **kwargs)

    requests._index.nearest = counting
    for _ in range(20):
        at = shifted(CENTRE, north_m=rng.uniform(-500, 500), east_m=rng.uniform(-500, 500))
        asked.clear()
        assert len(nearby_ids(requests, at=at, radius_m=2000, limit=50)) == 50
        assert sum(asked) <= 50 * DEFAULT.max_divisor**2, asked
    # Waiting spread over two days: one walk of 2.5 x the limit proves the answer.
    assert asked == [126]


def test_ranked_nearby_drops_requests_that_expired_since_the_last_sweep():
    requests = model(
        [
            row(1, shifted(CENTRE, north_m=100), 10 * HOUR, expires_in=-1),
            row(2, shifted(CENTRE, north_m=900), 60),
        ]
    )
    assert nearby_ids(requests) == [2]


def test_waiting_is_counted_from_posting_across_a_claim_and_release():
    """A need claimed and let go keeps the waiting time it had: it still has not been met."""
    requests = model(
        [row(1, shifted(CENTRE, north_m=1500), 20 * HOUR), row(2, shifted(CENTRE, east_m=400), 60)]
    )
    claimed = row(1, shifted(CENTRE, north_m=1500), 20 * HOUR, status="claimed")
    lease_end = NOW + timedelta(hours=1)
    requests.apply(claimed[:12] + (lease_end, "exact"), epoch(NOW))
    assert nearby_ids(requests) == [2]
    requests.apply(row(1, shifted(CENTRE, north_m=1500), 20 * HOUR), epoch(NOW))
    assert nearby_ids(requests) == [1, 2]


def test_haversine_agrees_with_the_read_model_distances():
    at = shifted(CENTRE, north_m=1234, east_m=-321)
    requests = model([row(1, at)])
    _, d = requests.nearby(CENTRE[0], CENTRE[1], 5000, 1, None, epoch(NOW))
    assert d[0] == pytest.approx(haversine_m(*CENTRE, *at), abs=1e-6)


def test_a_need_made_urgent_after_loading_is_found_by_a_search_among_fresh_ones():
    """While every need is fresh the search need not look far; a change must widen it."""
    rows = [row(i, shifted(CENTRE, east_m=50 + 5 * i), 60) for i in range(1, 301)]
    requests = model(rows)
    assert requests._reach(epoch(NOW)) < 1.01
    old = row(1000, shifted(CENTRE, north_m=1500), 20 * HOUR, urgent=True)
    requests.apply(old, epoch(NOW))
    assert 1000 in nearby_ids(requests, limit=50)
    assert 1000 not in nearby_ids(requests, limit=50, sort="distance")
