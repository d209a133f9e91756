"""Nearby-query benchmark: PointIndex against cKDTree (the floor), numpy brute force and PostGIS."""

import argparse
import gc
import math
import os
import sys
import time

import numpy as np

# Runnable as `python bench/nearby.py` from the repo root without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from connect.geo import (  # noqa: E402
    EARTH_RADIUS_M,
    PointIndex,
    chord_for_distance_m,
    distance_m_for_chord,
    haversine_m_np,
    to_unit_xyz,
)

RADIUS_M = 2000.0
K = 50

# Bac Giang province bounding box (degrees).
BBOX = (21.10, 105.88, 21.62, 107.03)  # min_lat, min_lon, max_lat, max_lon

# Town centres inside the bbox: (name, lat, lon, weight, sigma_m). Plausible, not surveyed.
TOWNS = [
    ("Bac Giang", 21.273, 106.194, 0.24, 3000.0),
    ("Viet Yen", 21.270, 106.090, 0.09, 2000.0),
    ("Hiep Hoa", 21.355, 105.975, 0.09, 2000.0),
    ("Tan Yen", 21.385, 106.120, 0.07, 1800.0),
    ("Voi (Lang Giang)", 21.360, 106.250, 0.08, 1800.0),
    ("Kep", 21.412, 106.283, 0.05, 1500.0),
    ("Neo (Yen Dung)", 21.210, 106.245, 0.07, 1800.0),
    ("Doi Ngo (Luc Nam)", 21.305, 106.390, 0.07, 1800.0),
    ("Chu (Luc Ngan)", 21.370, 106.560, 0.08, 2000.0),
    ("An Chau (Son Dong)", 21.335, 106.845, 0.05, 1500.0),
    ("Cau Go (Yen The)", 21.478, 106.140, 0.06, 1500.0),
    ("Bien Dong", 21.440, 106.650, 0.05, 1500.0),
]
CLUSTERED_FRACTION = 0.8


def _rss_mb():
    """Current resident set size in MB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _hwm_mb():
    """Peak resident set size in MB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _reset_hwm():
    """Reset the kernel's peak-RSS counter (for _hwm_mb); False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _sample(n, rng):
    """n points: CLUSTERED_FRACTION around TOWNS (Gaussian), the rest uniform, all inside BBOX."""
    min_lat, min_lon, max_lat, max_lon = BBOX
    lats = np.empty(n)
    lons = np.empty(n)
    n_cl = int(round(n * CLUSTERED_FRACTION))
    w = np.array([t[3] for t in TOWNS])
    town = rng.choice(len(TOWNS), size=n_cl, p=w / w.sum())
    c_lat = np.array([t[1] for t in TOWNS])[town]
    c_lon = np.array([t[2] for t in TOWNS])[town]
    sigma = np.array([t[4] for t in TOWNS])[town]
    # Metres to degrees at the town's latitude: a degree of longitude is shorter than of latitude.
    m_per_deg = math.pi * EARTH_RADIUS_M / 180.0
    lats[:n_cl] = c_lat + rng.standard_normal(n_cl) * sigma / m_per_deg
    m_per_deg_lon = m_per_deg * np.cos(np.radians(c_lat))
    lons[:n_cl] = c_lon + rng.standard_normal(n_cl) * sigma / m_per_deg_lon
    lats[n_cl:] = rng.uniform(min_lat, max_lat, n - n_cl)
    lons[n_cl:] = rng.uniform(min_lon, max_lon, n - n_cl)
    np.clip(lats, min_lat, max_lat, out=lats)
    np.clip(lons, min_lon, max_lon, out=lons)
    # Shuffle so ids (row order) carry no spatial order, as database ids would not.
    perm = rng.permutation(n)
    return lats[perm], lons[perm]


def generate_points(n, seed=20240601):
    """(ids int64 1..n, lats, lons) for n seeded points, 80 % clustered in Bac Giang's towns."""
    rng = np.random.default_rng(seed)
    lats, lons = _sample(n, rng)
    return np.arange(1, n + 1, dtype=np.int64), lats, lons


def generate_queries(m, seed=7):
    """(lats, lons) for m seeded query points drawn like the data."""
    return _sample(m, np.random.default_rng(seed))


def time_queries(fn, queries, warmup=20):
    """(p50, p99) in microseconds of fn(lat, lon) over the query points."""
    lats, lons = queries
    lat_l = lats.tolist()
    lon_l = lons.tolist()
    for i in range(min(warmup, len(lat_l))):
        fn(lat_l[i], lon_l[i])
    times = np.empty(len(lat_l))
    clock = time.perf_counter_ns
    # Keep the collector from landing inside one query and polluting p99.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(len(lat_l)):
            t0 = clock()
            fn(lat_l[i], lon_l[i])
            times[i] = clock() - t0
    finally:
        if gc_was_enabled:
            gc.enable()
    times /= 1000.0
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def run_nearby_bench(query_fn_by_name, queries, query_counts=None, out=sys.stdout):
    """Time every fn(lat, lon) in query_fn_by_name; {name: (p50, p99, queries timed)}."""
    # query_counts caps the number of queries for slow rows (brute force).
    results = {}
    query_counts = query_counts or {}
    for name, fn in query_fn_by_name.items():
        m = min(query_counts.get(name, len(queries[0])), len(queries[0]))
        p50, p99 = time_queries(fn, (queries[0][:m], queries[1][:m]))
        results[name] = (p50, p99, m)
        print(
            f"  timed {name:<40s} p50 {p50:10.1f} us  p99 {p99:10.1f} us  ({m} queries)", file=out
        )
        out.flush()
    return results


def print_table(results, out=sys.stdout):
    """Print the p50/p99 table."""
    title = "query (within 2 km, <= 50; nearest first unless named)"
    print(f"\n{title:<44s} {'p50 us':>10s} {'p99 us':>10s} {'queries':>8s}", file=out)
    for name, (p50, p99, m) in results.items():
        print(f"{name:<44s} {p50:10.1f} {p99:10.1f} {m:8d}", file=out)


# ---- query implementations ------------------------------------------------------------------


def make_index_fn(index):
    """PointIndex nearest k=50 within 2 km."""

    def q(lat, lon):
        return index.nearest(lat, lon, K, max_distance_m=RADIUS_M)

    return q


def make_index_accept_fn(index, ids):
    """PointIndex nearest with a vectorised accept filter that passes ~95 % (category-like)."""
    # The read model always filters (expiry, categories); this row shows what the filter costs.
    rng = np.random.default_rng(3)
    allowed = np.zeros(int(ids.max()) + 1, dtype=bool)
    allowed[ids] = rng.random(ids.size) < 0.95

    def q(lat, lon):
        return index.nearest(lat, lon, K, max_distance_m=RADIUS_M, accept=lambda a: allowed[a])

    return q


def make_ckdtree_fns(ids, lats, lons):
    """(full, raw) cKDTree query callables over unit-sphere xyz, plus the tree's build seconds."""
    from scipy.spatial import cKDTree

    xyz = to_unit_xyz(lats, lons)
    t0 = time.perf_counter()
    tree = cKDTree(xyz)
    build_s = time.perf_counter() - t0
    bound = chord_for_distance_m(RADIUS_M)
    n = len(ids)
    two_r = 2.0 * EARTH_RADIUS_M
    rad = math.radians
    cos = math.cos
    sin = math.sin

    def raw(lat, lon):
        # Just the tree query on a ready unit vector: the lower bound of any Python-side answer.
        p, lam = rad(lat), rad(lon)
        c = cos(p)
        return tree.query((c * cos(lam), c * sin(lam), sin(p)), k=K, distance_upper_bound=bound)

    def full(lat, lon):
        # Same answer as PointIndex.nearest: ids and great-circle metres of the hits only.
        d, i = raw(lat, lon)
        hit = i < n
        return ids[i[hit]], two_r * np.arcsin(np.minimum(d[hit] * 0.5, 1.0))

    return full, raw, tree, build_s


def make_brute_fn(lats, lons, ids):
    """Numpy haversine over every point, argpartition for the 50 nearest within 2 km."""

    def q(lat, lon):
        d = haversine_m_np(lat, lon, lats, lons)
        hit = np.flatnonzero(d <= RADIUS_M)
        if hit.size > K:
            hit = hit[np.argpartition(d[hit], K - 1)[:K]]
        order = np.lexsort((ids[hit], d[hit]))
        return ids[hit[order]], d[hit[order]]

    return q


def make_postgis_fn(dsn, ids, lats, lons, out=sys.stdout):
    """Load the points into PostGIS (geography + GiST) and return a prepared-query callable."""
    import io

    import psycopg

    conn = psycopg.connect(dsn, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        cur.execute("DROP TABLE IF EXISTS bench_nearby_points")
        cur.execute("DROP TABLE IF EXISTS bench_nearby_stage")
        cur.execute("CREATE UNLOGGED TABLE bench_nearby_stage (id bigint, lon float8, lat float8)")
        t0 = time.perf_counter()
        # COPY plain text from numpy in chunks; repr-precision floats survive the round trip.
        with cur.copy("COPY bench_nearby_stage (id, lon, lat) FROM STDIN") as copy:
            step = 200_000
            for s in range(0, len(ids), step):
                buf = io.StringIO()
                rows = np.column_stack([ids[s : s + step], lons[s : s + step], lats[s : s + step]])
                np.savetxt(buf, rows, fmt=("%d", "%.17g", "%.17g"), delimiter="\t")
                copy.write(buf.getvalue())
        cur.execute(
            "CREATE TABLE bench_nearby_points AS SELECT id, "
            "ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography AS geog FROM bench_nearby_stage"
        )
        cur.execute("DROP TABLE bench_nearby_stage")
        cur.execute("ALTER TABLE bench_nearby_points ADD PRIMARY KEY (id)")
        cur.execute(
            "CREATE INDEX bench_nearby_points_geog ON bench_nearby_points USING gist (geog)"
        )
        cur.execute("VACUUM ANALYZE bench_nearby_points")
        print(f"  PostGIS load + GiST build: {time.perf_counter() - t0:.1f} s", file=out)

    sql = (
        "SELECT id, ST_Distance(geog, q) FROM bench_nearby_points, "
        "(SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography AS q) AS p "
        "WHERE ST_DWithin(geog, q, %s) ORDER BY geog <-> q LIMIT %s"
    )
    cur = conn.cursor()

    def q(lat, lon):
        cur.execute(sql, (lon, lat, RADIUS_M, K), prepare=True)
        return cur.fetchall()

    return q, conn


def verify_against_ckdtree(index, tree, ids, queries, n_check=200):
    """(mismatching answers, max distance difference m) of PointIndex vs cKDTree."""
    bound = chord_for_distance_m(RADIUS_M)
    n = len(ids)
    mismatches = 0
    max_diff = 0.0
    qxyz = to_unit_xyz(queries[0][:n_check], queries[1][:n_check])
    for j in range(min(n_check, len(queries[0]))):
        lat, lon = float(queries[0][j]), float(queries[1][j])
        got_ids, got_d = index.nearest(lat, lon, K, max_distance_m=RADIUS_M)
        d, i = tree.query(qxyz[j], k=K, distance_upper_bound=bound)
        hit = i < n
        exp_ids = ids[i[hit]]
        exp_d = distance_m_for_chord(d[hit])
        # cKDTree breaks distance ties arbitrarily; PointIndex by id, so order both the same way.
        order = np.lexsort((exp_ids, exp_d))
        exp_ids, exp_d = exp_ids[order], exp_d[order]
        if exp_ids.shape != got_ids.shape or not np.array_equal(exp_ids, got_ids):
            mismatches += 1
        elif exp_d.size:
            max_diff = max(max_diff, float(np.max(np.abs(exp_d - got_d))))
    return mismatches, max_diff


FLOOR = "cKDTree xyz raw query (floor)"
INDEX = "PointIndex.nearest"
BRUTE = "numpy brute-force haversine"
POSTGIS = "PostGIS geography GiST (prepared)"


def print_ratios(results, out=sys.stdout):
    """Per row: p50 against the cKDTree floor, and how much slower PostGIS and brute force are."""
    floor = results[FLOOR][0]
    pg = results[POSTGIS][0] if POSTGIS in results else None
    brute = results[BRUTE][0] if BRUTE in results else None
    head = f"{'/ floor':>10s} {'PostGIS /':>10s} {'brute /':>10s}"
    print(f"\n{'ratios of p50':<44s} {head}", file=out)
    for name, (p50, _, _) in results.items():
        if name in (FLOOR, BRUTE, POSTGIS):
            continue
        pg_ratio = f"{pg / p50:9.1f}x" if pg else f"{'-':>10s}"
        brute_ratio = f"{brute / p50:9.0f}x" if brute else f"{'-':>10s}"
        print(f"{name:<44s} {p50 / floor:9.2f}x {pg_ratio} {brute_ratio}", file=out)


def main(argv=None, extra_rows=None):
    """Run the benchmark, print the table and ratios, return the results."""
    # extra_rows(ids, lats, lons) -> {name: fn(lat, lon)} adds rows built on the same data
    # (e.g. the app's read model), timed with the same queries.
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument(
        "--brute-queries",
        type=int,
        default=200,
        help="brute force is ~20 ms/query, so it runs on the first N queries only",
    )
    ap.add_argument(
        "--pg-dsn",
        default=os.environ.get("PG_DSN"),
        help="psycopg DSN of a PostGIS database (default: $PG_DSN, as set by "
        "tools/pgcluster.py run)",
    )
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args(argv)

    print(
        f"nearby bench: {args.points:,} points ({CLUSTERED_FRACTION:.0%} clustered around "
        f"{len(TOWNS)} towns in Bac Giang), {args.queries:,} queries, k={K}, "
        f"radius {RADIUS_M:.0f} m"
    )
    t0 = time.perf_counter()
    ids, lats, lons = generate_points(args.points, args.seed)
    queries = generate_queries(args.queries, args.seed + 1)
    print(f"  data generated in {time.perf_counter() - t0:.1f} s")

    gc.collect()
    hwm_ok = _reset_hwm()
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    index = PointIndex.from_arrays(ids, lats, lons)
    build_s = time.perf_counter() - t0
    gc.collect()
    rss1 = _rss_mb()
    peak = (_hwm_mb() - rss0) if hwm_ok else float("nan")
    print(
        f"  PointIndex.from_arrays: {build_s:.2f} s, RSS +{rss1 - rss0:.0f} MB "
        f"(peak during build +{peak:.0f} MB), {len(index):,} points"
    )

    ckd_full, ckd_raw, tree, ckd_build_s = make_ckdtree_fns(ids, lats, lons)
    print(f"  cKDTree build: {ckd_build_s:.2f} s")

    fns = {
        INDEX: make_index_fn(index),
        "PointIndex.nearest + accept (95 % pass)": make_index_accept_fn(index, ids),
    }
    if extra_rows is not None:
        fns.update(extra_rows(ids, lats, lons))
    fns.update(
        {
            "cKDTree xyz (same answer: ids + metres)": ckd_full,
            FLOOR: ckd_raw,
            BRUTE: make_brute_fn(lats, lons, ids),
        }
    )
    counts = {BRUTE: args.brute_queries}
    pg_conn = None
    if args.pg_dsn:
        pg_fn, pg_conn = make_postgis_fn(args.pg_dsn, ids, lats, lons)
        fns[POSTGIS] = pg_fn

    mism, max_diff = verify_against_ckdtree(index, tree, ids, queries, 200)
    print(
        f"  check: PointIndex vs cKDTree on the first 200 queries: {mism} mismatching answers "
        f"(max distance difference {max_diff:.2e} m)"
    )

    results = run_nearby_bench(fns, queries, counts)
    if pg_conn is not None:
        pg_conn.close()
    print_table(results)
    if counts[BRUTE] < args.queries:
        print(f"(brute force timed on the first {counts[BRUTE]} queries only)")
    print_ratios(results)

    p50, p99, _ = results[INDEX]
    pg_part = ""
    if POSTGIS in results:
        pg_part = f", PostGIS / index {results[POSTGIS][0] / p50:.1f}x (>= 8x)"
    print(
        f"\ntargets: {INDEX} p50 {p50 / results[FLOOR][0]:.2f}x floor (<= 2.5x), "
        f"p99 {p99:.0f} us (<= 150 us), brute / index {results[BRUTE][0] / p50:.0f}x (>= 500x)"
        f"{pg_part}"
    )
    print(
        f"         build {len(index):,} points {build_s:.2f} s (<= 5 s for 1 M), "
        f"RSS +{rss1 - rss0:.0f} MB (<= 250 MB per process)"
    )
    return results


if __name__ == "__main__":
    main()
