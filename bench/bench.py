"""`make bench`: the read model's nearby query against the floor, PostGIS and brute force.

Builds the app's in-memory read model (``connect.matching.open_requests.OpenRequests``) from
the same 1 M generated points as ``nearby.py`` and adds rows to its table: the nearby
query nearest first (ids and distances, with the category/expiry filter the app always
applies), the same by fair rank (the API's default, docs/ranking.md), and the whole JSON list
the endpoint returns. Then prints the issue's targets for the read model, and runs the
batch-assignment bench (bench/assignment.py) and the console's benches at 100,000 requests:
map data (bench/console_map.py), exports (bench/exports.py), statistics (bench/console_stats.py).
"""

import gc
import os
import sys
import time
from datetime import datetime, timedelta

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import nearby  # noqa: E402

from connect.geo import blur_point  # noqa: E402
from connect.matching.open_requests import OpenRequests, epoch  # noqa: E402
from connect.requests.categories import CATEGORIES  # noqa: E402

DESCRIPTIONS = [
    "Cần gạo và trứng cho cả nhà, đang cách ly tại nhà.",
    "Hết gạo, mì tôm và nước rửa tay; nhà có hai trẻ nhỏ.",
    "Cần thuốc hạ sốt cho trẻ em và khẩu trang.",
    "Bà cụ bị ho nhiều ngày, cần tư vấn của bác sĩ.",
    "Cần sữa cho em bé 8 tháng tuổi và tã giấy.",
    "Cần người đi chợ giúp, không ra ngoài được.",
]
READ_MODEL = "read model nearby (filtered ids + metres)"
READ_MODEL_JSON = "read model nearby as the JSON list"
READ_MODEL_RANKED = "read model nearby by fair rank"
READ_MODEL_RANKED_JSON = "read model by fair rank as the JSON list"


def make_rows(ids, lats, lons, seed=11, now=None):
    """Rows in ROW_FIELDS order for the generated points: open, varied, realistic text."""
    # ``now``: they were posted up to 48 h before it (a fixed date for the bench).
    rng = np.random.default_rng(seed)
    now = now or datetime(2026, 11, 26, 8, 0, 0)
    cat_picks = rng.integers(0, len(CATEGORIES), size=len(ids))
    descriptions = rng.integers(0, len(DESCRIPTIONS), size=len(ids))
    households = rng.integers(1, 9, size=len(ids))
    urgent = rng.random(len(ids)) < 0.2
    ages = rng.integers(0, 48 * 3600, size=len(ids))
    rows = []
    for i, (id_, lat, lon) in enumerate(zip(ids.tolist(), lats.tolist(), lons.tolist())):
        # A real blur per point costs a hash; a cheap fixed-size offset keeps the bench quick.
        created = now - timedelta(seconds=int(ages[i]))
        rows.append(
            (
                id_,
                "open",
                [CATEGORIES[cat_picks[i]]],
                DESCRIPTIONS[descriptions[i]],
                int(households[i]),
                "urgent" if urgent[i] else "normal",
                lat,
                lon,
                lat + 0.002,
                lon + 0.002,
                created,
                created + timedelta(hours=72),
                None,
                "exact",
            )
        )
    return rows, epoch(now)


def _rss_mb():
    return nearby._rss_mb()


def extra_rows(ids, lats, lons, report):
    t0 = time.perf_counter()
    rows, now = make_rows(ids, lats, lons)
    report.append(f"  read model input rows generated in {time.perf_counter() - t0:.1f} s")
    gc.collect()
    rss0 = _rss_mb()
    model = OpenRequests(expiry_seconds=72 * 3600)
    t0 = time.perf_counter()
    model.load(rows, now)
    build_s = time.perf_counter() - t0
    gc.collect()
    # Measured while the input rows are still alive, so only what the model allocated counts.
    rss1 = _rss_mb()
    fragment_mb = model.memory_bytes() / 2**20
    del rows
    gc.collect()
    report.append(
        f"  read model load of {len(model):,} open requests: {build_s:.2f} s, "
        f"RSS +{rss1 - rss0:.0f} MB, of which list columns and texts {fragment_mb:.0f} MB "
        f"and the spatial index with its arrays {rss1 - rss0 - fragment_mb:.0f} MB"
    )
    report.extend(["build", build_s, rss1 - rss0])
    blur_point(21.0, 106.0, b"warm")  # import cost out of the timings

    def query(lat, lon):
        return model.nearby(lat, lon, nearby.RADIUS_M, nearby.K, None, now, "distance")

    def query_json(lat, lon):
        return model.nearby_json(lat, lon, nearby.RADIUS_M, nearby.K, None, now, "distance")

    def query_ranked(lat, lon):
        return model.nearby(lat, lon, nearby.RADIUS_M, nearby.K, None, now, "rank")

    def query_ranked_json(lat, lon):
        return model.nearby_json(lat, lon, nearby.RADIUS_M, nearby.K, None, now, "rank")

    return {
        READ_MODEL: query,
        READ_MODEL_JSON: query_json,
        READ_MODEL_RANKED: query_ranked,
        READ_MODEL_RANKED_JSON: query_ranked_json,
    }


def main(argv=None):
    report = []
    results = nearby.main(argv, extra_rows=lambda i, la, lo: extra_rows(i, la, lo, report))
    build_s, rss = report[-2], report[-1]
    for line in report[:-3]:
        print(line)
    p50, p99, _ = results[READ_MODEL]
    floor = results[nearby.FLOOR][0]
    print(
        f"\nread model targets: p50 {p50:.1f} us = {p50 / floor:.2f}x the cKDTree floor "
        f"(<= 2.5x); p99 {p99:.0f} us (<= 150 us)"
    )
    if nearby.POSTGIS in results:
        print(f"  PostGIS p50 / read model p50 = {results[nearby.POSTGIS][0] / p50:.1f}x (>= 8x)")
    print(f"  brute force p50 / read model p50 = {results[nearby.BRUTE][0] / p50:.0f}x (>= 500x)")
    print(f"  load of 1 M: {build_s:.2f} s (<= 5 s); RSS +{rss:.0f} MB (<= 250 MB per process)")
    json_p50, json_p99, _ = results[READ_MODEL_JSON]
    print(f"  whole JSON list (50 items): p50 {json_p50:.1f} us, p99 {json_p99:.0f} us")
    rank_p50, rank_p99, _ = results[READ_MODEL_RANKED]
    rank_json_p50, rank_json_p99, _ = results[READ_MODEL_RANKED_JSON]
    print(
        f"read model by fair rank (the API's default): p50 {rank_p50:.1f} us "
        f"= {rank_p50 / p50:.2f}x nearest first; p99 {rank_p99:.0f} us (<= 150 us); "
        f"as the JSON list p50 {rank_json_p50:.1f} us, p99 {rank_json_p99:.0f} us"
    )

    # Batch assignment (issue 5): 10,000 requests x 10,000 volunteers, and a contested run.
    import assignment

    print()
    assignment.main(["--contested", "2500"])

    # The coordinator console's map data (issue 6): 100,000 requests in view, both databases.
    import console_map

    print()
    console_map.main([])

    import console_stats
    import exports

    print()
    exports.main([])
    print()
    console_stats.main([])

    # SMS through Kannel (issue 15): texts a second, and post to SMS accepted.
    import sms

    print()
    sms.main([])


if __name__ == "__main__":
    main()
