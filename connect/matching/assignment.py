"""Batch assignment of open requests to available volunteers: exact, lexicographic, pure.

Pure: numpy, scipy and ``connect.geo`` only; no Flask, no database. The service layer turns rows
into ``Requests`` / ``Volunteers`` and an ``Assignment`` back into claims.

The rules
---------
A volunteer may take a request when all of these hold:

* **range** -- the great-circle distance from the volunteer to the request is at most the
  volunteer's travel radius (metres, inclusive);
* **categories** -- by default (``match="any"``) the volunteer covers AT LEAST ONE of the
  request's categories: a request for food and medicine may go to someone who brings food and
  says so. ``match="all"`` is the stricter alternative (the volunteer covers every category of
  the request). A request with no categories may go to any volunteer in range under both rules;
* **capacity** -- a volunteer with free capacity ``c`` takes at most ``c`` requests (``c == 0``:
  none); a request gets at most one volunteer.

Objective, lexicographic:

1. serve as many URGENT requests as possible;
2. then serve as many requests as possible in total;
3. then make the total travel distance as small as possible.

(1) and (2) never conflict. The sets of requests that can be served together are the
independent sets of a transversal matroid, so every maximal servable set has the same size and
the one built greedily urgent-first is both as urgent and as large as possible. "Urgent first"
therefore never costs a single request in the total; what it can cost is distance (an urgent
request 9 km away is served rather than a normal one 200 m away) and *which* normal requests
are served. The waiting time plays no part in the optimum (only in the baseline's order).

The solver
----------
``find_candidates`` prunes pairs with SciPy's cKDTree on unit-sphere xyz (the same exact chord
geometry as ``connect.geo.PointIndex``, and faster for an all-pairs join), volunteers grouped by
radius so each group asks for its own largest chord; the exact great-circle distance then
decides. ``assign`` solves the assignment exactly with SciPy's sparse LAPJVsp
(``scipy.sparse.csgraph.min_weight_full_bipartite_matching``), capacity by repeating a
volunteer's column; see ``_solve`` for how the lexicographic objective is encoded and
certified. ``greedy_nearest_first`` is the BASELINE to compare against, not an optimum.

Results are deterministic: inputs are put in id order first, so the same requests and
volunteers give the same assignment whatever order they come in (for a given SciPy version:
among equally good assignments, which one LAPJVsp returns is its own affair).
"""

# Over 400 lines on purpose: the solver's stages share one problem representation and the
# invariants its tests check; split, each part would need the others to be read (docs/assignment.md).
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import (
    maximum_bipartite_matching,
    min_weight_full_bipartite_matching,
)
from scipy.spatial import cKDTree

from connect.geo import EARTH_RADIUS_M, chord_for_distance_m, to_unit_xyz
from connect.geo.distance import check_points

__all__ = [
    "Assignment",
    "Candidates",
    "CAPACITY_TAKEN",
    "NO_CATEGORY_MATCH",
    "NO_VOLUNTEER_IN_RANGE",
    "REASONS",
    "Requests",
    "VOLUNTEERS_FULL",
    "Volunteers",
    "assign",
    "find_candidates",
    "greedy_nearest_first",
]

# Why a request is left unserved (checked in this order; the first that applies is given).
NO_VOLUNTEER_IN_RANGE = "no_volunteer_in_range"
"""No volunteer's travel radius reaches the request."""
NO_CATEGORY_MATCH = "no_category_match"
"""Volunteers reach it, but none of them covers its categories."""
VOLUNTEERS_FULL = "volunteers_at_capacity"
"""Volunteers reach it and cover it, but every one of them had no free capacity to begin with."""
CAPACITY_TAKEN = "capacity_used_elsewhere"
"""Suitable volunteers had free capacity, but all of it went to other requests: urgent ones
first, then serving more requests, then less distance (for the baseline: requests earlier in
its order)."""
REASONS = (NO_VOLUNTEER_IN_RANGE, NO_CATEGORY_MATCH, VOLUNTEERS_FULL, CAPACITY_TAKEN)

MATCH_RULES = ("any", "all")

# Pruning: volunteers are split into this many radius groups (quantiles), so a tree join asks for
# each group's largest radius instead of everybody's; measured on 10k x 10k with radii 1-10 km the
# join then returns ~10 % more pairs than are in range, against ~2x with a single query radius.
_RADIUS_GROUPS = 12
_MIN_GROUP = 64
# Slack on chord bounds so a pair exactly at the radius is not lost to rounding in the tree; the
# exact great-circle distance decides afterwards (as in PointIndex).
_CHORD_REL_SLACK = 1e-9
_CHORD_ABS_SLACK = 1e-12
_TWO_R = 2.0 * EARTH_RADIUS_M

# Solver cost unit: distances enter the solver as whole millimetres (see _solve).
_UNIT_M = 1e-3
# Integer-valued float64 arithmetic is exact below 2^53; keep every cost, dual and path length
# LAPJVsp can form under this (with a factor 4 of headroom on the bound in _solve).
_EXACT_LIMIT = float(2**51)
# The serve bonus starts at _K0 x the longest distance and grows x_K_STEP when the certificate
# fails (a long chain of moves that saves more distance than the bonus).
_K0 = 4
_K_STEP = 16


# ---- inputs ---------------------------------------------------------------------------------


def _ids(ids, what):
    ids = np.asarray(ids)
    if ids.size == 0:
        return np.empty(0, dtype=np.int64)
    if ids.dtype.kind not in "iu":
        raise ValueError(f"{what} ids must be integers")
    if ids.dtype.kind == "u" and ids.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{what} ids must fit in int64")
    return ids.astype(np.int64, copy=False).reshape(-1)


def _sort_by_id(ids, what, *arrays):
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    if ids.size > 1:
        dup = ids[1:][ids[1:] == ids[:-1]]
        if dup.size:
            raise ValueError(f"duplicate {what} id {int(dup[0])}")
    return order, ids


def _column(values, n, name, dtype):
    arr = np.asarray(values, dtype=dtype).reshape(-1)
    if arr.size != n:
        raise ValueError(f"{name} has {arr.size} values for {n} rows")
    return arr


def _categories(values, n, name):
    """Masks as a uint64 array, or a tuple of frozensets of names; validated, unsorted."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        seq = values.reshape(-1)
        if seq.size != n:
            raise ValueError(f"{name} has {seq.size} values for {n} rows")
        if seq.size and seq.dtype.kind == "i" and seq.min() < 0:
            raise ValueError(f"{name}: a category mask must be >= 0")
        return seq.astype(np.uint64)
    seq = list(values)
    if len(seq) != n:
        raise ValueError(f"{name} has {len(seq)} values for {n} rows")
    if not seq:
        return np.empty(0, dtype=np.uint64)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in seq):
        if any(v < 0 or v >= 2**64 for v in seq):
            raise ValueError(f"{name}: a category mask must be within [0, 2**64)")
        return np.array(seq, dtype=np.uint64)
    out = []
    for v in seq:
        if isinstance(v, str):
            v = (v,)
        if isinstance(v, (int, np.integer)):
            raise ValueError(f"{name}: give every row a bitmask or every row a set of names")
        out.append(frozenset(v))
    return tuple(out)


def _masks(req_cats, vol_cats):
    """Both sides as uint64 bitmasks, names mapped to bits through one shared vocabulary."""
    r_names = isinstance(req_cats, tuple)
    v_names = isinstance(vol_cats, tuple)
    if not r_names and not v_names:
        return req_cats, vol_cats
    if (r_names or len(req_cats) == 0) and (v_names or len(vol_cats) == 0):
        bits = {}
        for sets in (req_cats, vol_cats):
            for s in sets:
                for name in sorted(s, key=repr):  # sets have no order; keep bits reproducible
                    bits.setdefault(name, len(bits))
        if len(bits) > 64:
            raise ValueError(f"at most 64 distinct categories, got {len(bits)}")

        def to_mask(sets):
            return np.array([sum(1 << bits[c] for c in s) for s in sets], dtype=np.uint64)

        return to_mask(req_cats), to_mask(vol_cats)
    raise ValueError("requests and volunteers must both give categories as bitmasks or as names")


class Requests:
    """Open requests to assign: parallel columns, kept in ascending id order.

    ``categories``: one bitmask (int) per request, or one set of names (a single string is one
    name) per request; the volunteers must use the same form. ``urgent``: truthy per request
    (default: none urgent). ``waiting_s``: seconds each request has waited (default 0); only the
    greedy baseline's order uses it.
    """

    def __init__(self, ids, lats, lons, categories, urgent=None, waiting_s=None):
        ids = _ids(ids, "request")
        lats, lons = check_points(lats, lons)
        n = ids.size
        if lats.size != n:
            raise ValueError(f"{lats.size} points for {n} request ids")
        cats = _categories(categories, n, "categories")
        urgent = np.zeros(n, dtype=bool) if urgent is None else _column(urgent, n, "urgent", bool)
        if waiting_s is None:
            waiting_s = np.zeros(n, dtype=np.float64)
        else:
            waiting_s = _column(waiting_s, n, "waiting_s", np.float64)
            if n and not np.all(np.isfinite(waiting_s)):
                raise ValueError("waiting_s must be finite")
        order, self.ids = _sort_by_id(ids, "request")
        self.lats = lats[order]
        self.lons = lons[order]
        self.categories = (
            cats[order] if isinstance(cats, np.ndarray) else tuple(cats[i] for i in order.tolist())
        )
        self.urgent = urgent[order]
        self.waiting_s = waiting_s[order]

    def __len__(self):
        return int(self.ids.size)

    def __repr__(self):
        return f"<Requests {len(self)} ({int(self.urgent.sum())} urgent)>"


class Volunteers:
    """Available volunteers: parallel columns, kept in ascending id order.

    ``radius_m``: travel radius in metres (>= 0; inf for no limit). ``categories``: as for
    ``Requests``. ``capacity``: how many more requests each can take now (int >= 0).
    """

    def __init__(self, ids, lats, lons, radius_m, categories, capacity):
        ids = _ids(ids, "volunteer")
        lats, lons = check_points(lats, lons)
        n = ids.size
        if lats.size != n:
            raise ValueError(f"{lats.size} points for {n} volunteer ids")
        radius = _column(radius_m, n, "radius_m", np.float64)
        if n and not np.all(radius >= 0):  # also rejects NaN
            raise ValueError("radius_m must be >= 0")
        cap = np.asarray(capacity).reshape(-1)
        if cap.size != n:
            raise ValueError(f"capacity has {cap.size} values for {n} rows")
        if n:
            if cap.dtype.kind == "f" and np.all(np.isfinite(cap)) and np.all(cap == np.floor(cap)):
                cap = cap.astype(np.int64)
            if cap.dtype.kind not in "iu" or cap.min() < 0:
                raise ValueError("capacity must be whole numbers >= 0")
        cats = _categories(categories, n, "categories")
        order, self.ids = _sort_by_id(ids, "volunteer")
        self.lats = lats[order]
        self.lons = lons[order]
        self.radius_m = radius[order]
        self.capacity = cap.astype(np.int64)[order] if n else np.empty(0, dtype=np.int64)
        self.categories = (
            cats[order] if isinstance(cats, np.ndarray) else tuple(cats[i] for i in order.tolist())
        )

    def __len__(self):
        return int(self.ids.size)

    def __repr__(self):
        return f"<Volunteers {len(self)} (capacity {int(self.capacity.sum())})>"


# ---- candidates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidates:
    """The feasible pairs of one batch, and what each request had within reach.

    ``req``/``vol`` index ``requests``/``volunteers`` (id order) and ``dist_m`` is the
    great-circle distance; the pairs are every (request, volunteer) with the request in the
    volunteer's radius, the categories matching and capacity > 0, sorted by request then
    volunteer. ``in_range`` / ``category_ok`` say per request whether any volunteer (of any
    capacity) reaches it / reaches it and covers it.
    """

    requests: Requests
    volunteers: Volunteers
    match: str
    req: np.ndarray
    vol: np.ndarray
    dist_m: np.ndarray
    in_range: np.ndarray
    category_ok: np.ndarray
    seconds: float
    pairs_tested: int

    def __len__(self):
        return int(self.req.size)


def _radius_groups(radius):
    """Index arrays of volunteers with similar radii, in ascending radius order."""
    n = radius.size
    order = np.argsort(radius, kind="stable")
    k = max(1, min(_RADIUS_GROUPS, n // _MIN_GROUP))
    return [g for g in np.array_split(order, k) if g.size]


def find_candidates(requests, volunteers, match="any"):
    """Every feasible (request, volunteer) pair with its exact great-circle distance."""
    if match not in MATCH_RULES:
        raise ValueError(f"match must be one of {MATCH_RULES}, got {match!r}")
    t0 = time.perf_counter()
    nr, nv = len(requests), len(volunteers)
    rmask, vmask = _masks(requests.categories, volunteers.categories)
    in_range = np.zeros(nr, dtype=bool)
    category_ok = np.zeros(nr, dtype=bool)
    parts_r, parts_v, parts_d = [], [], []
    tested = 0
    if nr and nv:
        rtree = cKDTree(to_unit_xyz(requests.lats, requests.lons))
        vxyz = to_unit_xyz(volunteers.lats, volunteers.lons)
        radius = volunteers.radius_m
        free = volunteers.capacity > 0
        for group in _radius_groups(radius):
            bound = chord_for_distance_m(float(radius[group[-1]]))
            bound = bound * (1.0 + _CHORD_REL_SLACK) + _CHORD_ABS_SLACK
            hits = rtree.sparse_distance_matrix(cKDTree(vxyz[group]), bound, output_type="ndarray")
            tested += hits.size
            # Chord -> great-circle arc: exact on the sphere, as PointIndex computes it.
            d = np.minimum(hits["v"] * 0.5, 1.0)
            np.arcsin(d, out=d)
            d *= _TWO_R
            r = hits["i"].astype(np.int32)
            v = group[hits["j"]].astype(np.int32)
            del hits
            keep = d <= radius[v]
            r, v, d = r[keep], v[keep], d[keep]
            in_range[r] = True
            rm, vm = rmask[r], vmask[v]
            if match == "any":
                ok = ((rm & vm) != 0) | (rm == 0)
            else:
                ok = (rm & ~vm) == 0
            r, v, d = r[ok], v[ok], d[ok]
            category_ok[r] = True
            ok = free[v]
            parts_r.append(r[ok])
            parts_v.append(v[ok])
            parts_d.append(d[ok])
    if parts_r:
        r = np.concatenate(parts_r)
        v = np.concatenate(parts_v)
        d = np.concatenate(parts_d)
        del parts_r[:], parts_v[:], parts_d[:]
        order = _order_by_pair(r, v, nv)
        r = r[order]
        v = v[order]
        d = d[order]
        del order
    else:
        r = np.empty(0, dtype=np.int32)
        v = np.empty(0, dtype=np.int32)
        d = np.empty(0, dtype=np.float64)
    return Candidates(
        requests,
        volunteers,
        match,
        r,
        v,
        d,
        in_range,
        category_ok,
        time.perf_counter() - t0,
        tested,
    )


def _order_by_pair(r, v, nv):
    """Permutation sorting pairs by (request, volunteer); pairs are unique."""
    key = r.astype(np.int64)
    key *= max(nv, 1)
    key += v
    idx_bits = max(1, int(r.size).bit_length())
    key_bits = max(1, int(key.max()).bit_length()) if key.size else 1
    if idx_bits + key_bits <= 63:
        # Sorting packed (key, index) values is ~1.5x faster than argsort on millions of pairs.
        key <<= idx_bits
        key |= np.arange(r.size, dtype=np.int64)
        key.sort()
        key &= (1 << idx_bits) - 1
        return key
    return np.argsort(key, kind="stable")


# ---- result ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """Who goes where: pairs in ascending request id, unserved requests with their reason."""

    method: str
    request_ids: np.ndarray
    volunteer_ids: np.ndarray
    distances_m: np.ndarray
    unserved: dict  # request id -> one of REASONS, in ascending id order
    n_requests: int
    n_urgent: int
    served_urgent: int
    timings: dict = field(default_factory=dict)  # prune_s, solve_s (seconds)
    stats: dict = field(default_factory=dict)

    @property
    def served(self):
        return int(self.request_ids.size)

    @property
    def total_m(self):
        return math.fsum(self.distances_m.tolist())

    @property
    def total_km(self):
        return self.total_m / 1000.0

    def pairs(self):
        """[(request_id, volunteer_id, distance_m)], ascending by request id."""
        return list(
            zip(self.request_ids.tolist(), self.volunteer_ids.tolist(), self.distances_m.tolist())
        )

    def by_volunteer(self):
        """{volunteer_id: [request_id, ...]} in ascending ids."""
        out = {}
        order = np.lexsort((self.request_ids, self.volunteer_ids))
        for vid, rid in zip(self.volunteer_ids[order].tolist(), self.request_ids[order].tolist()):
            out.setdefault(vid, []).append(rid)
        return out

    def reason_counts(self):
        """{reason: how many unserved requests}, every reason present (0 if none)."""
        counts = dict.fromkeys(REASONS, 0)
        for reason in self.unserved.values():
            counts[reason] += 1
        return counts

    def summary(self):
        """A small dict for previews and logs."""
        return {
            "method": self.method,
            "requests": self.n_requests,
            "served": self.served,
            "urgent": self.n_urgent,
            "served_urgent": self.served_urgent,
            "unserved": self.reason_counts(),
            "total_km": round(self.total_km, 3),
        }


def _result(method, cand, rows, vols, timings, stats):
    """Build an Assignment from served request indices `rows` and their volunteer indices."""
    req, vol = cand.requests, cand.volunteers
    rows = np.asarray(rows, dtype=np.int64)
    vols = np.asarray(vols, dtype=np.int64)
    order = np.argsort(rows)
    rows, vols = rows[order], vols[order]
    dist = _pair_distances(cand, rows, vols)
    served = np.zeros(len(req), dtype=bool)
    served[rows] = True
    has_edge = np.zeros(len(req), dtype=bool)
    has_edge[cand.req] = True
    unserved = {}
    for i in np.flatnonzero(~served).tolist():
        if not cand.in_range[i]:
            reason = NO_VOLUNTEER_IN_RANGE
        elif not cand.category_ok[i]:
            reason = NO_CATEGORY_MATCH
        elif not has_edge[i]:
            reason = VOLUNTEERS_FULL
        else:
            reason = CAPACITY_TAKEN
        unserved[int(req.ids[i])] = reason
    return Assignment(
        method=method,
        request_ids=req.ids[rows],
        volunteer_ids=vol.ids[vols],
        distances_m=dist,
        unserved=unserved,
        n_requests=len(req),
        n_urgent=int(req.urgent.sum()),
        served_urgent=int(req.urgent[rows].sum()),
        timings=timings,
        stats=stats,
    )


def _pair_distances(cand, rows, vols):
    """The candidate distance of each chosen (row, volunteer) pair."""
    if rows.size == 0:
        return np.empty(0, dtype=np.float64)
    nv = max(len(cand.volunteers), 1)
    keys = cand.req.astype(np.int64) * nv + cand.vol
    want = rows * nv + vols
    pos = np.searchsorted(keys, want)
    if np.any(pos >= keys.size) or np.any(keys[np.minimum(pos, keys.size - 1)] != want):
        raise AssertionError("an assigned pair is not a candidate")
    return cand.dist_m[pos]


# ---- the optimal solver -------------------------------------------------------------------


def assign(requests, volunteers, match="any", candidates=None):
    """The lexicographic optimum: most urgent served, then most served, then least distance.

    ``candidates`` (from ``find_candidates`` on the same inputs) skips the pruning step.
    Returns an ``Assignment``; ``timings`` holds ``prune_s`` and ``solve_s``, ``stats`` the
    candidate pair count, the solver's size, rounds and cost unit.
    """
    cand = candidates if candidates is not None else find_candidates(requests, volunteers, match)
    if cand.requests is not requests or cand.volunteers is not volunteers or cand.match != match:
        raise ValueError("candidates were computed for other inputs")
    t0 = time.perf_counter()
    rows, vols, stats = _solve(cand)
    solve_s = time.perf_counter() - t0
    stats["candidate_pairs"] = len(cand)
    return _result(
        "optimal", cand, rows, vols, {"prune_s": cand.seconds, "solve_s": solve_s}, stats
    )


def _solve(cand):
    """(request indices, volunteer indices, stats) of the lexicographic optimum.

    Encoding the lexicographic objective in one min-cost assignment
    ---------------------------------------------------------------
    Rows are the requests with at least one candidate. Columns are volunteer slots -- a
    volunteer appears min(capacity, candidates) times, as identical columns -- plus one private
    "unserved" column per row, so a full matching of the rows always exists and
    min_weight_full_bipartite_matching never raises for want of one. Costs (integers):

        request -> slot       d + 1      d = distance in whole millimetres
        request -> its own    P + 1      P = B for a normal request, 2B for an urgent one

    (the +1 because the solver reads 0 as "no edge"; every full matching has one entry per row,
    so the shift is a constant). Up to a constant, the total is

        distance - B * (served + served_urgent).

    One weight orders the three goals exactly once B exceeds the largest total distance any
    assignment can have: then one more urgent or one more served request outweighs every
    distance. But that bound is (pairs x longest distance): ~10^4 x 10^7 mm = 10^11, i.e.
    costs ~2*10^11 and sums of 10^4 of them ~2*10^15, at the edge of the 2^53 up to which
    float64 holds integers exactly -- and past it for larger batches or radii; in metres with
    fractions the last millimetres would be rounding noise. So instead:

    * Distances are whole millimetres. LAPJVsp only adds, subtracts and compares costs, so on
      integer-valued float64 costs every dual and path length it forms is an exact integer as
      long as magnitudes stay below 2^53; a bound on them is checked (rows x largest cost x 4
      < 2^51) and the unit coarsened x10 if it ever fails. The answer is then exactly optimal
      for the millimetre distances, so its true total is within (served x 1 mm) of the true
      optimum: each of the served pairs is off by at most half a millimetre, both ways.
    * B starts small (4 x the longest candidate distance + 1) and is CERTIFIED afterwards: the
      solver's answer minimises distance - B * (served + served_urgent) over all assignments,
      so if it also serves u* urgent and c* requests -- the maxima, found independently and
      exactly by Hopcroft-Karp (scipy maximum_bipartite_matching) -- no assignment with those
      counts has less distance, and by the matroid property no assignment beats those counts:
      it is the lexicographic optimum. If not (a long chain of moves saved more than B), B
      grows x16 and it solves again; at B > min(rows, slots) x the longest distance the
      certificate must hold (one more urgent or served request then outweighs any distance).
      When every row is served the counts are trivially the maxima and Hopcroft-Karp is skipped.

    No decomposition by connected components is needed for exactness; on the bench
    (10k x 10k) one component holds almost every request anyway.
    """
    req, vol = cand.requests, cand.volunteers
    stats = {"rows": 0, "slots": 0, "solver_entries": 0, "rounds": 0, "unit_m": _UNIT_M}
    if len(cand) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), stats

    # Rows: requests with candidates, compressed. cand is sorted by (request, volunteer).
    ne = len(cand)
    starts = np.empty(ne, dtype=bool)
    starts[0] = True
    np.not_equal(cand.req[1:], cand.req[:-1], out=starts[1:])
    first_edge = np.flatnonzero(starts)
    row_req = cand.req[first_edge].astype(np.int64)
    nr = row_req.size
    row_of_edge = np.cumsum(starts, dtype=np.int64)
    row_of_edge -= 1
    del starts
    # Slots: min(capacity, candidate count) per volunteer; more could never be used.
    degree = np.bincount(cand.vol, minlength=len(vol))
    n_slots_v = np.minimum(vol.capacity, degree)
    slot_start = np.zeros(len(vol) + 1, dtype=np.int64)
    np.cumsum(n_slots_v, out=slot_start[1:])
    n_slots = int(slot_start[-1])
    slot_owner = np.repeat(np.arange(len(vol), dtype=np.int64), n_slots_v)

    # The CSR matrix, built in order without a sort: a stream of "items" -- each row's
    # candidates, then one sentinel for its private column -- and every item repeated once
    # per slot of its volunteer (the sentinel once). Columns come out ascending per row.
    rep = n_slots_v[cand.vol]
    nnz = int(rep.sum()) + nr
    itype = np.int32 if nnz + n_slots + nr < 2**31 else np.int64
    n_items = ne + nr
    edge_item = np.arange(ne, dtype=np.int64) + row_of_edge  # sentinels before it: its row
    del row_of_edge
    sent_item = np.append(first_edge[1:], ne) + np.arange(nr)  # after the row's last edge
    item_rep = np.ones(n_items, dtype=np.int64)
    item_rep[edge_item] = rep
    item_first = np.cumsum(item_rep) - item_rep  # first matrix entry of each item
    col_base = np.empty(n_items, dtype=itype)  # column = col_base[item] + entry number
    col_base[edge_item] = slot_start[cand.vol] - item_first[edge_item]
    col_base[sent_item] = n_slots + np.arange(nr) - item_first[sent_item]
    entry_item = np.repeat(np.arange(n_items, dtype=itype), item_rep)
    indices = col_base[entry_item]
    indices += np.arange(nnz, dtype=itype)
    indptr = np.zeros(nr + 1, dtype=itype)
    indptr[1:] = item_first[sent_item] + 1
    del rep, item_rep, item_first, col_base
    urgent_row = req.urgent[row_req]
    stats.update(rows=int(nr), slots=n_slots, solver_entries=nnz)

    counts = None  # (c*, u*) from Hopcroft-Karp, computed only if needed
    unit = _UNIT_M
    k = _K0
    item_cost = np.empty(n_items, dtype=np.float64)
    while True:
        d_units = np.rint(cand.dist_m / unit)
        dmax = float(d_units.max())
        b_safe = min(nr, n_slots) * dmax + 1.0
        b = min(k * (dmax + 1.0), b_safe)
        if nr * (2.0 * b + dmax + 2.0) * 4.0 >= _EXACT_LIMIT:
            unit *= 10.0
            continue
        d_units += 1.0
        item_cost[edge_item] = d_units
        item_cost[sent_item] = np.where(urgent_row, 2.0 * b, b) + 1.0
        del d_units
        matrix = sparse.csr_array(
            (item_cost[entry_item], indices, indptr), shape=(nr, n_slots + nr)
        )
        row_ind, col_ind = min_weight_full_bipartite_matching(matrix)
        del matrix
        stats["rounds"] += 1
        stats["unit_m"] = unit
        rows = row_ind[col_ind < n_slots]
        slots = col_ind[col_ind < n_slots]
        n_served = rows.size
        n_urgent = int(urgent_row[rows].sum())
        if n_served == nr:
            break  # everyone with a candidate is served: the counts are maximal
        if counts is None:
            counts = _max_counts(indices, indptr, nr, n_slots, urgent_row)
        if (n_served, n_urgent) == counts:
            break
        if b >= b_safe:
            raise AssertionError(
                f"certificate failed at the safe bonus: {n_served, n_urgent} != {counts}"
            )
        k *= _K_STEP
    stats["bonus_units"] = b
    if counts is not None:
        stats["max_served"], stats["max_urgent"] = counts
    return row_req[rows].astype(np.int64), slot_owner[slots], stats


def _max_counts(indices, indptr, nr, n_slots, urgent_row):
    """(most requests servable, most urgent requests servable), exactly, by Hopcroft-Karp."""
    # The same rows without their private column (the last entry of each row).
    keep = np.ones(indices.size, dtype=bool)
    keep[indptr[1:] - 1] = False
    graph = sparse.csr_array(
        (
            np.ones(indices.size - nr),
            indices[keep],
            indptr - np.arange(nr + 1, dtype=indptr.dtype),
        ),
        shape=(nr, n_slots),
    )
    c_star = int(np.count_nonzero(maximum_bipartite_matching(graph, perm_type="column") >= 0))
    if urgent_row.any():
        sub = graph[np.flatnonzero(urgent_row)]
        u_star = int(np.count_nonzero(maximum_bipartite_matching(sub, perm_type="column") >= 0))
    else:
        u_star = 0
    return c_star, u_star


# ---- the baseline -------------------------------------------------------------------------


def greedy_nearest_first(requests, volunteers, match="any", candidates=None):
    """BASELINE, not an optimum: requests in order of urgency, then longest waiting, then id,
    each take the nearest suitable volunteer (ties: lower volunteer id) with capacity left.

    Same rules (range, categories, capacity), same result type as ``assign``, for comparison.
    """
    cand = candidates if candidates is not None else find_candidates(requests, volunteers, match)
    if cand.requests is not requests or cand.volunteers is not volunteers or cand.match != match:
        raise ValueError("candidates were computed for other inputs")
    t0 = time.perf_counter()
    # cand is grouped by request, volunteers ascending within each; argmin over the available
    # ones picks the nearest, and the lowest volunteer index (= id) among equals.
    ptr = np.searchsorted(cand.req, np.arange(len(requests) + 1))
    left = volunteers.capacity.copy()
    seq = np.lexsort((requests.ids, -requests.waiting_s, ~requests.urgent))
    rows, chosen = [], []
    inf = np.inf
    for i in seq.tolist():
        lo, hi = ptr[i], ptr[i + 1]
        if lo == hi:
            continue
        cands = cand.vol[lo:hi]
        d = np.where(left[cands] > 0, cand.dist_m[lo:hi], inf)
        j = int(d.argmin())
        if d[j] < inf:
            v = int(cands[j])
            left[v] -= 1
            rows.append(i)
            chosen.append(v)
    solve_s = time.perf_counter() - t0
    return _result(
        "greedy_nearest_first",
        cand,
        rows,
        chosen,
        {"prune_s": cand.seconds, "solve_s": solve_s},
        {"candidate_pairs": len(cand)},
    )
