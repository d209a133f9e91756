"""Batch assignment: the optimum checked against exhaustive search and an exact MILP.

The rule under test (connect.matching.assignment): a volunteer may take a request in its radius
whose categories it covers (at least one of them by default, all with match="all"), up to its
capacity; the objective is lexicographic -- most urgent requests served, then most requests
served, then least total great-circle distance.
"""

import ast
import itertools
import math
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from connect.geo import EARTH_RADIUS_M, haversine_m
from connect.matching import assignment as asg
from connect.matching.assignment import (
    CAPACITY_TAKEN,
    NO_CATEGORY_MATCH,
    NO_VOLUNTEER_IN_RANGE,
    VOLUNTEERS_FULL,
    Requests,
    Volunteers,
    assign,
    find_candidates,
    greedy_nearest_first,
)

MODULE = Path(asg.__file__)
M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0
LAT0, LON0 = 21.27, 106.19  # Bac Giang


def offset(east_m, north_m, lat0=LAT0, lon0=LON0):
    """(lat, lon) about east_m / north_m metres from (lat0, lon0)."""
    return (lat0 + north_m / M_PER_DEG, lon0 + east_m / (M_PER_DEG * math.cos(math.radians(lat0))))


# ---- independent reference ----------------------------------------------------------------


class Instance:
    """A plain-Python instance: lists of dicts, turned into solver inputs on demand."""

    def __init__(self, requests, volunteers):
        self.requests = requests  # dicts: id, lat, lon, cats (set), urgent, wait
        self.volunteers = volunteers  # dicts: id, lat, lon, radius, cats (set), cap

    def solver_inputs(self):
        r, v = self.requests, self.volunteers
        return (
            Requests(
                [x["id"] for x in r],
                [x["lat"] for x in r],
                [x["lon"] for x in r],
                [x["cats"] for x in r],
                [x["urgent"] for x in r],
                [x["wait"] for x in r],
            ),
            Volunteers(
                [x["id"] for x in v],
                [x["lat"] for x in v],
                [x["lon"] for x in v],
                [x["radius"] for x in v],
                [x["cats"] for x in v],
                [x["cap"] for x in v],
            ),
        )

    def feasible(self, match="any", slack_m=0.0):
        """{(request id, volunteer id): haversine metres} for every allowed pair, by brute force.

        slack_m widens the radius: the solver's distances (chord -> arc, as PointIndex) and
        haversine agree to ~1e-9 m, so a pair exactly at the radius may fall either way.
        """
        out = {}
        for q in self.requests:
            for v in self.volunteers:
                if v["cap"] <= 0:
                    continue
                d = haversine_m(v["lat"], v["lon"], q["lat"], q["lon"])
                if d > v["radius"] + slack_m:
                    continue
                if q["cats"]:
                    ok = (q["cats"] & v["cats"]) if match == "any" else q["cats"] <= v["cats"]
                    if not ok:
                        continue
                out[(q["id"], v["id"])] = d
        return out


def brute_force(inst, match="any"):
    """(urgent served, served, distance) of the lexicographic optimum, by exhaustive search;
    also the largest number served when urgency is ignored."""
    pairs = inst.feasible(match)
    reqs = inst.requests
    cap = {v["id"]: v["cap"] for v in inst.volunteers}
    options = [[vid for (rid, vid) in pairs if rid == q["id"]] for q in reqs]
    best = [(-1, -1, 0.0)]
    most = [0]

    def walk(i, urgent, served, dist):
        if i == len(reqs):
            key = (urgent, served, -dist)
            if key > (best[0][0], best[0][1], -best[0][2]):
                best[0] = (urgent, served, dist)
            most[0] = max(most[0], served)
            return
        walk(i + 1, urgent, served, dist)  # leave it unserved
        q = reqs[i]
        for vid in options[i]:
            if cap[vid] > 0:
                cap[vid] -= 1
                walk(i + 1, urgent + q["urgent"], served + 1, dist + pairs[(q["id"], vid)])
                cap[vid] += 1

    walk(0, 0, 0, 0.0)
    return best[0], most[0]


def milp_optimum(inst, match="any"):
    """(urgent served, served, distance) of the lexicographic optimum: three exact MILP stages."""
    pairs = inst.feasible(match)
    if not pairs:
        return 0, 0, 0.0
    keys = sorted(pairs)
    rpos = {q["id"]: i for i, q in enumerate(inst.requests)}
    vpos = {v["id"]: i for i, v in enumerate(inst.volunteers)}
    urgent = {q["id"]: q["urgent"] for q in inst.requests}
    n, nq = len(keys), len(inst.requests)
    cols = np.arange(n)
    a_req = sparse.csr_array((np.ones(n), ([rpos[r] for r, _ in keys], cols)), shape=(nq, n))
    a_vol = sparse.csr_array(
        (np.ones(n), ([vpos[v] for _, v in keys], cols)), shape=(len(inst.volunteers), n)
    )
    caps = np.array([v["cap"] for v in inst.volunteers], dtype=float)
    u = np.array([1.0 if urgent[r] else 0.0 for r, _ in keys])
    one = np.ones(n)
    d = np.array([pairs[k] for k in keys])
    base = [LinearConstraint(a_req, 0, 1), LinearConstraint(a_vol, 0, caps)]
    opts = {"mip_rel_gap": 0.0}

    def solve(c, extra):
        res = milp(c, constraints=base + extra, integrality=one, bounds=Bounds(0, 1), options=opts)
        assert res.success, res.message
        return np.rint(res.x)

    x = solve(-u, [])
    u_star = int(round(u @ x))
    x = solve(-one, [LinearConstraint(u[None, :], u_star, np.inf)])
    c_star = int(round(one @ x))
    x = solve(
        d,
        [
            LinearConstraint(u[None, :], u_star, np.inf),
            LinearConstraint(one[None, :], c_star, np.inf),
        ],
    )
    return u_star, c_star, float(d @ x)


def random_instance(rng, n_req, n_vol, span_m=3000.0, cats="abc", p_urgent=0.3, max_cap=3):
    """Points in a span_m square, radii 300-2500 m, 1-2 categories each side, capacity 0..max."""

    def point():
        return offset(rng.uniform(0, span_m), rng.uniform(0, span_m))

    reqs, vols = [], []
    for i in range(n_req):
        lat, lon = point()
        reqs.append(
            {
                "id": 100 + i,
                "lat": lat,
                "lon": lon,
                "cats": set(rng.sample(cats, rng.randint(1, 2))),
                "urgent": rng.random() < p_urgent,
                "wait": rng.uniform(0, 86400),
            }
        )
    for j in range(n_vol):
        lat, lon = point()
        vols.append(
            {
                "id": 500 + j,
                "lat": lat,
                "lon": lon,
                "radius": rng.uniform(300, 2500),
                "cats": set(rng.sample(cats, rng.randint(1, 2))),
                "cap": rng.randint(0, max_cap),
            }
        )
    return Instance(reqs, vols)


def tolerance_m(served):
    # Distances enter the solver as whole millimetres: at most 1 mm per served pair off the
    # true-metre optimum (plus float noise in the sums).
    return served * 1e-3 + 1e-6


def check_feasible(inst, result, match="any"):
    """Every pair allowed, capacities kept, reported distances are the haversine ones."""
    pairs = inst.feasible(match, slack_m=1e-6)
    cap = {v["id"]: v["cap"] for v in inst.volunteers}
    seen = set()
    for rid, vid, d in result.pairs():
        assert (rid, vid) in pairs, (rid, vid)
        assert abs(d - pairs[(rid, vid)]) < 1e-6
        assert rid not in seen
        seen.add(rid)
        cap[vid] -= 1
    assert all(c >= 0 for c in cap.values())
    all_ids = {q["id"] for q in inst.requests}
    assert seen | set(result.unserved) == all_ids
    assert not seen & set(result.unserved)


# ---- optimality ---------------------------------------------------------------------------


def test_matches_exhaustive_search_on_small_random_instances():
    rng = random.Random(20240607)
    for trial in range(250):
        inst = random_instance(rng, rng.randint(0, 7), rng.randint(0, 5))
        req, vol = inst.solver_inputs()
        result = assign(req, vol)
        check_feasible(inst, result)
        (u, c, dist), most = brute_force(inst)
        msg = f"trial {trial}"
        assert result.served_urgent == max(u, 0), msg
        assert result.served == max(c, 0), msg
        assert abs(result.total_m - dist) <= tolerance_m(c), msg
        # Urgent first never costs a request: the total is the most servable at all.
        assert result.served == most, msg


def test_matches_exhaustive_search_with_all_categories_rule():
    rng = random.Random(77)
    for trial in range(80):
        inst = random_instance(rng, rng.randint(1, 6), rng.randint(1, 4), cats="ab")
        req, vol = inst.solver_inputs()
        result = assign(req, vol, match="all")
        check_feasible(inst, result, match="all")
        (u, c, dist), _ = brute_force(inst, match="all")
        assert (result.served_urgent, result.served) == (u, c), f"trial {trial}"
        assert abs(result.total_m - dist) <= tolerance_m(c), f"trial {trial}"


def test_matches_exact_milp_on_medium_random_instances():
    rng = random.Random(5)
    for trial in range(12):
        # Scarce capacity in a small area: many conflicts, long augmenting chains.
        inst = random_instance(
            rng, rng.randint(20, 60), rng.randint(5, 25), span_m=4000.0, cats="abcd", p_urgent=0.25
        )
        req, vol = inst.solver_inputs()
        result = assign(req, vol)
        check_feasible(inst, result)
        u, c, dist = milp_optimum(inst)
        assert (result.served_urgent, result.served) == (u, c), f"trial {trial}"
        assert abs(result.total_m - dist) <= tolerance_m(c) + 1e-7 * dist, f"trial {trial}"


def test_pairs_respect_radius_categories_and_capacity():
    rng = random.Random(11)
    inst = random_instance(rng, 200, 80, span_m=6000.0, cats="abcde", max_cap=4)
    req, vol = inst.solver_inputs()
    for fn in (assign, greedy_nearest_first):
        result = fn(req, vol)
        check_feasible(inst, result)
        by_vol = result.by_volunteer()
        caps = {v["id"]: v["cap"] for v in inst.volunteers}
        assert all(len(rs) <= caps[vid] for vid, rs in by_vol.items())


def test_distances_are_great_circle():
    lat1, lon1 = offset(0, 0)
    lat2, lon2 = offset(7000, -3000)
    req = Requests([1], [lat1], [lon1], [1])
    vol = Volunteers([2], [lat2], [lon2], [10_000], [1], [1])
    result = assign(req, vol)
    assert result.pairs()[0][:2] == (1, 2)
    assert abs(result.distances_m[0] - haversine_m(lat1, lon1, lat2, lon2)) < 1e-6
    assert result.total_km == pytest.approx(result.distances_m[0] / 1000.0)


# ---- the lexicographic rule -----------------------------------------------------------------


def test_urgent_beats_a_nearer_normal_request():
    # One volunteer, one slot: an urgent request 9 km away wins over a normal one at 100 m.
    vlat, vlon = offset(0, 0)
    u = offset(9000, 0)
    n = offset(100, 0)
    req = Requests([1, 2], [u[0], n[0]], [u[1], n[1]], [1, 1], [True, False])
    vol = Volunteers([9], [vlat], [vlon], [10_000], [1], [1])
    result = assign(req, vol)
    assert result.pairs()[0][:2] == (1, 9)
    assert result.unserved == {2: CAPACITY_TAKEN}


def test_urgent_first_does_not_cost_normal_requests():
    # Urgent U can use V1 (near) or V2 (far); normal N only V1. Serving U at V1 would leave N
    # out: the optimum sends U to V2 so that both are served (the matroid property). The
    # baseline, taking U's nearest first, serves one fewer.
    v1, v2 = offset(0, 0), offset(4000, 0)
    u, n = offset(500, 0), offset(-800, 0)
    req = Requests([1, 2], [u[0], n[0]], [u[1], n[1]], [{"food"}, {"food"}], [True, False])
    vol = Volunteers(
        [11, 12], [v1[0], v2[0]], [v1[1], v2[1]], [1000, 4000], [{"food"}, {"food"}], [1, 1]
    )
    result = assign(req, vol)
    assert sorted(p[:2] for p in result.pairs()) == [(1, 12), (2, 11)]
    base = greedy_nearest_first(req, vol)
    assert base.served == 1 and base.pairs()[0][:2] == (1, 11)
    assert base.unserved == {2: CAPACITY_TAKEN}


def test_more_requests_before_less_distance():
    # V1 is 100 m from R1 and 9 km from R2; V2 reaches only R1, 9 km away. Least distance alone
    # would serve R1 from V1 (100 m) and leave R2; serving both costs 18 km and wins.
    v1, v2 = offset(0, 0), offset(-9000, 0)
    r1, r2 = offset(100, 0), offset(0, 9000)
    req = Requests([1, 2], [r1[0], r2[0]], [r1[1], r2[1]], [1, 1])
    vol = Volunteers([11, 12], [v1[0], v2[0]], [v1[1], v2[1]], [9500, 9500], [1, 1], [1, 1])
    result = assign(req, vol)
    assert sorted(p[:2] for p in result.pairs()) == [(1, 12), (2, 11)]
    assert result.total_m == pytest.approx(18_000 + 100, abs=20)


def test_long_chain_needs_a_bigger_bonus_and_gets_it():
    # Requests R0..R{k-1} and volunteers V1..Vk 1 km apart on a line; Vi reaches R{i-1} (1 km)
    # and R{i} (0 m) -- categories cycle mod 3 so that it reaches nothing else. Serving all k
    # needs every Ri at V{i+1}: k km. Dropping R0 would save k km, more than the solver's first
    # serve bonus (4x the longest distance): the certificate must catch it and raise the bonus.
    k = 12
    cats = ["a", "b", "c"]
    pts = [offset(1000.0 * i, 0) for i in range(k + 1)]
    req = Requests(
        list(range(k)),
        [p[0] for p in pts[:k]],
        [p[1] for p in pts[:k]],
        [{cats[i % 3]} for i in range(k)],
    )
    vol = Volunteers(
        list(range(100, 100 + k)),
        [p[0] for p in pts[1:]],
        [p[1] for p in pts[1:]],
        [1000.5] * k,
        [{cats[i % 3], cats[(i - 1) % 3]} for i in range(1, k + 1)],
        [1] * k,
    )
    result = assign(req, vol)
    assert result.served == k
    assert sorted(p[:2] for p in result.pairs()) == [(i, 100 + i) for i in range(k)]
    assert result.total_m == pytest.approx(1000.0 * k, abs=1.0)
    assert result.stats["rounds"] >= 2


# ---- unserved and edge cases ----------------------------------------------------------------


def test_reasons_for_unserved_requests():
    v = offset(0, 0)
    far = offset(50_000, 0)
    near = [offset(100.0 * i, 0) for i in range(1, 6)]
    req = Requests(
        [1, 2, 3, 4, 5],
        [far[0], near[0][0], near[1][0], near[2][0], near[3][0]],
        [far[1], near[0][1], near[1][1], near[2][1], near[3][1]],
        [{"food"}, {"medicine"}, {"advice"}, {"food"}, {"food"}],
        [False, False, False, False, True],
    )
    # V1: food, 1 slot. V2: advice but full (capacity 0).
    vol = Volunteers(
        [11, 12], [v[0], v[0]], [v[1], v[1]], [2000, 2000], [{"food"}, {"advice"}], [1, 0]
    )
    result = assign(req, vol)
    assert result.pairs()[0][:2] == (5, 11)  # the urgent one
    assert result.unserved == {
        1: NO_VOLUNTEER_IN_RANGE,
        2: NO_CATEGORY_MATCH,
        3: VOLUNTEERS_FULL,
        4: CAPACITY_TAKEN,
    }
    assert result.reason_counts() == {
        NO_VOLUNTEER_IN_RANGE: 1,
        NO_CATEGORY_MATCH: 1,
        VOLUNTEERS_FULL: 1,
        CAPACITY_TAKEN: 1,
    }


def test_any_versus_all_categories():
    p = offset(0, 0)
    req = Requests([1], [p[0]], [p[1]], [{"food", "medicine"}])
    vol = Volunteers([2], [p[0]], [p[1]], [100], [{"food"}], [1])
    assert assign(req, vol).served == 1
    assert assign(req, vol, match="all").unserved == {1: NO_CATEGORY_MATCH}
    vol2 = Volunteers([2], [p[0]], [p[1]], [100], [{"food", "medicine", "other"}], [1])
    assert assign(req, vol2, match="all").served == 1


def test_bitmasks_and_names_give_the_same_answer():
    rng = random.Random(3)
    inst = random_instance(rng, 30, 12, cats="abc")
    req, vol = inst.solver_inputs()
    bit = {"a": 1, "b": 2, "c": 4}
    r, v = inst.requests, inst.volunteers
    req2 = Requests(
        [x["id"] for x in r],
        req.lats,
        req.lons,
        np.array([sum(bit[c] for c in x["cats"]) for x in r]),
        req.urgent,
        req.waiting_s,
    )
    vol2 = Volunteers(
        vol.ids,
        vol.lats,
        vol.lons,
        vol.radius_m,
        [sum(bit[c] for c in x["cats"]) for x in v],
        vol.capacity,
    )
    assert assign(req, vol).pairs() == assign(req2, vol2).pairs()


def test_radius_is_inclusive_to_the_millimetre():
    lat1, lon1 = offset(0, 0)
    lat2, lon2 = offset(3000, 0)
    d = haversine_m(lat1, lon1, lat2, lon2)
    req = Requests([1], [lat2], [lon2], [1])
    assert assign(req, Volunteers([2], [lat1], [lon1], [d + 1e-3], [1], [1])).served == 1
    assert assign(req, Volunteers([2], [lat1], [lon1], [d - 1e-3], [1], [1])).unserved == {
        1: NO_VOLUNTEER_IN_RANGE
    }


@pytest.mark.parametrize("fn", [assign, greedy_nearest_first])
def test_empty_inputs(fn):
    p = offset(0, 0)
    none_r = Requests([], [], [], [])
    none_v = Volunteers([], [], [], [], [], [])
    some_r = Requests([1, 2], [p[0]] * 2, [p[1]] * 2, [1, 1], [True, False])
    some_v = Volunteers([5], [p[0]], [p[1]], [100], [1], [1])
    r = fn(none_r, none_v)
    assert (r.served, r.unserved, r.total_m, r.n_requests) == (0, {}, 0.0, 0)
    r = fn(none_r, some_v)
    assert (r.served, r.unserved) == (0, {})
    r = fn(some_r, none_v)
    assert r.served == 0
    assert r.unserved == {1: NO_VOLUNTEER_IN_RANGE, 2: NO_VOLUNTEER_IN_RANGE}
    assert r.summary()["served_urgent"] == 0


def test_no_feasible_pair():
    a, b = offset(0, 0), offset(20_000, 0)
    req = Requests([1, 2], [a[0], a[0]], [a[1], a[1]], [{"food"}, {"food"}])
    vol = Volunteers(
        [5, 6], [b[0], a[0]], [b[1], a[1]], [1000, 1000], [{"food"}, {"other"}], [3, 3]
    )
    result = assign(req, vol)
    assert result.served == 0
    assert result.unserved == {1: NO_CATEGORY_MATCH, 2: NO_CATEGORY_MATCH}
    assert result.stats["rounds"] == 0


def test_more_requests_than_capacity_is_not_an_error():
    # No full matching of the requests exists: the private "unserved" columns absorb the rest.
    p = offset(0, 0)
    pts = [offset(10.0 * i, 0) for i in range(6)]
    req = Requests(
        range(6), [q[0] for q in pts], [q[1] for q in pts], [1] * 6, [i == 5 for i in range(6)]
    )
    vol = Volunteers([9], [p[0]], [p[1]], [1000], [1], [2])
    result = assign(req, vol)
    assert result.served == 2
    # The urgent request (furthest) and the nearest normal one.
    assert sorted(p[0] for p in result.pairs()) == [0, 5]
    assert set(result.unserved.values()) == {CAPACITY_TAKEN}


def test_capacity_zero_volunteers_take_nothing():
    p = offset(0, 0)
    req = Requests([1, 2], [p[0]] * 2, [p[1]] * 2, [1, 1])
    vol = Volunteers([5, 6], [p[0]] * 2, [p[1]] * 2, [100, 100], [1, 1], [0, 0])
    for fn in (assign, greedy_nearest_first):
        result = fn(req, vol)
        assert result.served == 0
        assert result.unserved == {1: VOLUNTEERS_FULL, 2: VOLUNTEERS_FULL}


def test_duplicate_points_and_zero_distances():
    p = offset(0, 0)
    req = Requests([1, 2, 3], [p[0]] * 3, [p[1]] * 3, [1, 1, 1], [False, True, False])
    vol = Volunteers([5, 6], [p[0]] * 2, [p[1]] * 2, [0.0, 0.0], [1, 1], [1, 1])
    result = assign(req, vol)
    assert result.served == 2 and result.served_urgent == 1
    assert result.total_m == 0.0
    assert 2 in {p[0] for p in result.pairs()}


def test_ties_are_deterministic_and_independent_of_input_order():
    rng = random.Random(99)
    # Ties galore: points on a coarse grid, so many pairs are equally far.
    grid = [offset(500.0 * i, 500.0 * j) for i in range(4) for j in range(4)]
    reqs = [
        {
            "id": 10 + i,
            "lat": grid[i % 16][0],
            "lon": grid[i % 16][1],
            "cats": {"a"},
            "urgent": i % 4 == 0,
            "wait": 0.0,
        }
        for i in range(40)
    ]
    vols = [
        {
            "id": 900 + j,
            "lat": grid[(3 * j) % 16][0],
            "lon": grid[(3 * j) % 16][1],
            "radius": 1200.0,
            "cats": {"a"},
            "cap": 1 + j % 2,
        }
        for j in range(15)
    ]
    first = assign(*Instance(reqs, vols).solver_inputs())
    for _ in range(5):
        rng.shuffle(reqs)
        rng.shuffle(vols)
        again = assign(*Instance(reqs, vols).solver_inputs())
        assert again.pairs() == first.pairs()
        assert again.unserved == first.unserved
        base1 = greedy_nearest_first(*Instance(reqs, vols).solver_inputs())
        base2 = greedy_nearest_first(*Instance(reqs, vols).solver_inputs())
        assert base1.pairs() == base2.pairs()


def test_two_identical_volunteers_one_request():
    p = offset(0, 0)
    req = Requests([1], [p[0]], [p[1]], [1])
    vol = Volunteers([7, 3], [p[0]] * 2, [p[1]] * 2, [10, 10], [1, 1], [1, 1])
    picks = {assign(req, vol).pairs()[0][1] for _ in range(3)}
    assert len(picks) == 1
    assert greedy_nearest_first(req, vol).pairs()[0][1] == 3  # baseline: lower id on ties


# ---- the baseline -------------------------------------------------------------------------


def test_greedy_baseline_order_and_optimum_dominates():
    # Order: urgent first, then the longest waiting.
    p = offset(0, 0)
    req = Requests(
        [1, 2, 3], [p[0]] * 3, [p[1]] * 3, [1, 1, 1], [False, False, True], [100.0, 900.0, 0.0]
    )
    vol = Volunteers([5], [p[0]], [p[1]], [10], [1], [2])
    assert sorted(x[0] for x in greedy_nearest_first(req, vol).pairs()) == [2, 3]

    rng = random.Random(4)
    for trial in range(30):
        inst = random_instance(rng, rng.randint(5, 40), rng.randint(2, 15))
        req, vol = inst.solver_inputs()
        cand = find_candidates(req, vol)
        opt = assign(req, vol, candidates=cand)
        base = greedy_nearest_first(req, vol, candidates=cand)
        check_feasible(inst, base)
        assert (opt.served_urgent, opt.served) >= (base.served_urgent, base.served)
        if (opt.served_urgent, opt.served) == (base.served_urgent, base.served):
            assert opt.total_m <= base.total_m + tolerance_m(opt.served), f"trial {trial}"


# ---- inputs and purity ----------------------------------------------------------------------


def test_input_validation():
    p = offset(0, 0)
    with pytest.raises(ValueError, match="duplicate request id"):
        Requests([1, 1], [p[0]] * 2, [p[1]] * 2, [1, 1])
    with pytest.raises(ValueError, match="capacity"):
        Volunteers([1], [p[0]], [p[1]], [10], [1], [-1])
    with pytest.raises(ValueError, match="radius"):
        Volunteers([1], [p[0]], [p[1]], [float("nan")], [1], [1])
    with pytest.raises(ValueError, match="latitude"):
        Requests([1], [95.0], [p[1]], [1])
    req = Requests([1], [p[0]], [p[1]], [{"food"}])
    vol = Volunteers([1], [p[0]], [p[1]], [10], [1], [1])
    with pytest.raises(ValueError, match="bitmasks or as names"):
        assign(req, vol)
    with pytest.raises(ValueError, match="match"):
        assign(req, vol, match="some")
    other = Requests([1], [p[0]], [p[1]], [{"food"}])
    cand = find_candidates(other, Volunteers([1], [p[0]], [p[1]], [10], [{"food"}], [1]))
    with pytest.raises(ValueError, match="other inputs"):
        assign(req, vol, candidates=cand)


def test_module_is_pure():
    allowed = {"numpy", "scipy", "connect", "__future__"}
    tree = ast.parse(MODULE.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            names = [node.module]
        else:
            continue
        for name in names:
            root = name.split(".")[0]
            assert root in allowed or root in sys.stdlib_module_names, name
            if root == "connect":
                assert name == "connect.geo" or name.startswith("connect.geo."), name


def test_exhaustive_reference_is_sane():
    # The reference itself on a case worked by hand.
    v = offset(0, 0)
    a, b = offset(100, 0), offset(200, 0)
    inst = Instance(
        [
            {"id": 1, "lat": a[0], "lon": a[1], "cats": {"x"}, "urgent": False, "wait": 0},
            {"id": 2, "lat": b[0], "lon": b[1], "cats": {"x"}, "urgent": True, "wait": 0},
        ],
        [{"id": 3, "lat": v[0], "lon": v[1], "radius": 1000, "cats": {"x"}, "cap": 1}],
    )
    (u, c, d), most = brute_force(inst)
    assert (u, c, most) == (1, 1, 1)
    assert d == pytest.approx(200, abs=0.5)
    assert milp_optimum(inst)[:2] == (1, 1)
    assert list(itertools.islice(inst.feasible(), 3)) == [(1, 3), (2, 3)]


def test_coarser_cost_unit_when_exactness_needs_it(monkeypatch):
    # Shrink the exact-integer budget so millimetres no longer fit: the solver must coarsen its
    # unit and still return the optimum up to that unit.
    rng = random.Random(21)
    inst = random_instance(rng, 40, 15, span_m=4000.0, cats="abc")
    req, vol = inst.solver_inputs()
    fine = assign(req, vol)
    monkeypatch.setattr(asg, "_EXACT_LIMIT", 1e9)
    coarse = assign(req, vol)
    assert coarse.stats["unit_m"] > fine.stats["unit_m"] == 1e-3
    u, c, dist = milp_optimum(inst)
    assert (coarse.served_urgent, coarse.served) == (u, c)
    assert abs(coarse.total_m - dist) <= c * coarse.stats["unit_m"] + 1e-6


def test_across_the_antimeridian_and_unlimited_radius():
    req = Requests([1, 2], [0.0, -33.9], [179.99, 151.2], [1, 1])
    vol = Volunteers([5, 6], [0.0, 51.5], [-179.99, -0.13], [3000, float("inf")], [1, 1], [1, 1])
    result = assign(req, vol)
    pairs = {p[0]: p for p in result.pairs()}
    assert pairs[1][1] == 5 and pairs[1][2] == pytest.approx(haversine_m(0, 179.99, 0, -179.99))
    assert pairs[2][1] == 6 and pairs[2][2] > 1.6e7  # London -> Sydney


def test_bench_runs_small():
    import importlib.util
    import io

    path = Path(__file__).resolve().parents[2] / "bench" / "assignment.py"
    spec = importlib.util.spec_from_file_location("bench_assignment", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)  # importing runs nothing
    out = io.StringIO()
    res = bench.main(["--requests", "400", "--volunteers", "300", "--verify-size", "60"], out=out)
    assert res["ok"], out.getvalue()
    assert res["optimal"]["served"] >= res["baseline"]["served"]
    assert all(c["same_counts"] and abs(c["gap"]) < 1e-9 for c in res["checks"])
