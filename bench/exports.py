"""Exports benchmark: the coordinators' CSV and GeoJSON exports of 100,000 requests (and their
assists), and the public counts by area, on SQLite + SpatiaLite and on PostGIS.

Data: the console map bench's 100,000 requests (bench/console_map.py: Bac Giang, 65 % open,
35 % claimed, helped or confirmed, with their assists), all in province 24, plus a released
claim on one open request in four, so about half of the requests have an assist. Each export is read through the Flask test client, unbuffered,
as a coordinator of area 24 (every request in scope). Printed per export: time to the first
byte (the header) and to the first rows, total time, body size, rows, and the peak of Python
memory allocated while the export ran (tracemalloc, in a separate run, as tracing slows
Python down): a streamed export's peak stays near one chunk however large the file.

Run as ``python bench/exports.py [--requests N]`` (PostGIS from ``$DATABASE_URL``, as set by
``tools/pgcluster.py run``); ``main(argv)`` returns the figures.
"""

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
for _p in (_ROOT, _HERE):  # runnable from anywhere without installing
    if _p not in sys.path:
        sys.path.insert(0, _p)

import console_map  # noqa: E402

EXPORTS = (
    "/api/v1/console/exports/requests.csv",
    "/api/v1/console/exports/requests.geojson",
    "/api/v1/console/exports/assists.csv",
    "/api/v1/console/exports/assists.geojson",
    "/api/v1/stats/areas.csv",
    "/api/v1/stats/areas.geojson",
)
FILTERED = (
    "/api/v1/console/exports/requests.csv",
    {"status": "open", "category": "food,medicine", "area": "24-213"},
)
BATCH = 5000


def add_assists(app):
    """Make about half of the requests have an assist: one for each claimed, helped or
    confirmed request that has none yet (console_map.load may have made them), and a released
    claim on every fourth open request. Returns the number of assists."""
    from sqlalchemy import exists, func, insert, select

    from connect.extensions import db
    from connect.requests.models import Assist, HelpRequest

    with app.app_context():
        rows = db.session.execute(
            select(
                HelpRequest.id,
                HelpRequest.status,
                HelpRequest.claimed_by_id,
                HelpRequest.created_at,
                HelpRequest.closed_at,
            )
            .where(~exists().where(Assist.request_id == HelpRequest.id))
            .order_by(HelpRequest.id)
        ).all()
        volunteers = db.session.execute(
            select(func.min(HelpRequest.claimed_by_id), func.max(HelpRequest.claimed_by_id))
        ).one()
        assists = []
        for i, (request_id, status, claimant, created, closed) in enumerate(rows):
            if status == "open" and i % 4:
                continue
            claimed = created + timedelta(minutes=20)
            helped = claimed + timedelta(hours=1) if status in ("helped", "confirmed") else None
            assists.append(
                {
                    "request_id": request_id,
                    "claimed_at": claimed,
                    "volunteer_id": claimant
                    or volunteers[0] + i % (volunteers[1] - volunteers[0]),
                    "lease_expires_at": claimed + timedelta(hours=2),
                    "outcome": {"open": "released", "claimed": None}.get(status, status),
                    "helped_at": helped,
                    "confirmed_at": closed if status == "confirmed" else None,
                    "closed_at": closed if status != "claimed" else None,
                }
            )
        for start in range(0, len(assists), BATCH):
            db.session.execute(insert(Assist), assists[start : start + BATCH])
        db.session.commit()
        return db.session.execute(select(func.count(Assist.id))).scalar_one()


def read_export(client, path, headers, query=None):
    """(first byte s, first rows s, total s, bytes) of one unbuffered export."""
    t0 = time.perf_counter()
    response = client.get(path, headers=headers, query_string=query or {}, buffered=False)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    first = first_rows = None
    size = chunks = 0
    for piece in response.response:
        if not piece:
            continue
        now = time.perf_counter() - t0
        first = now if first is None else first
        chunks += 1
        if chunks == 2:
            first_rows = now
        size += len(piece)
    total = time.perf_counter() - t0
    response.close()
    return first, first_rows or total, total, size


def peak_memory(client, path, headers, query=None, runs=2):
    """Peak Python allocation (bytes) while one export is read and thrown away; the least of
    a few runs, as the app's read model may catch up inside any one request."""
    peaks = []
    for _ in range(runs):
        gc.collect()
        tracemalloc.start()
        try:
            read_export(client, path, headers, query)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    return min(peaks)


def count_rows(client, path, headers, query=None):
    body = client.get(path, headers=headers, query_string=query or {}).get_data(as_text=True)
    if path.endswith(".csv"):
        return body.count("\r\n") - 1
    return len(json.loads(body)["features"])


def chunk_rows():
    from connect.coordination.exports.services import CHUNK_ROWS

    return CHUNK_ROWS


def run_backend(name, url, data, out=sys.stdout):
    from connect.extensions import db

    app = console_map.make_app(url)
    console_map.migrate(app)
    t0 = time.perf_counter()
    console_map.load(app, data)
    assists = add_assists(app)
    print(
        f"  {name}: {len(data['lats']):,} requests and {assists:,} assists loaded in "
        f"{time.perf_counter() - t0:.1f} s",
        file=out,
    )
    headers = console_map.coordinator_headers(app)
    client = app.test_client()
    results = {}
    cases = [(path, None) for path in EXPORTS] + [FILTERED]
    for path, query in cases:
        read_export(client, path, headers, query)  # warm caches and the read model
        first, first_rows, total, size = read_export(client, path, headers, query)
        peak = peak_memory(client, path, headers, query)
        rows = count_rows(client, path, headers, query)
        label = path.rsplit("/", 1)[1] + (" (open food/medicine in 24-213)" if query else "")
        results[label] = {
            "first_byte_ms": first * 1000,
            "first_rows_ms": first_rows * 1000,
            "total_s": total,
            "mb": size / 2**20,
            "rows": rows,
            "peak_mb": peak / 2**20,
        }
        print(
            f"  {name:8} {label:42} {first * 1000:8.1f} {first_rows * 1000:9.1f} "
            f"{total:8.2f} {size / 2**20:8.1f} {rows:>8,} {peak / 2**20:8.1f} "
            f"{rows / total:>9,.0f}",
            file=out,
        )
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return results


def main(argv=None, out=sys.stdout):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="a PostGIS database (default: $DATABASE_URL, as set by "
        "tools/pgcluster.py run); SQLite only without one",
    )
    args = ap.parse_args(argv)
    print(
        f"exports bench: {args.requests:,} requests in Bac Giang, a coordinator of area 24 "
        "(all in scope), read unbuffered through the test client",
        file=out,
    )
    print(
        f"  {'backend':8} {'export':42} {'1st byte':>8} {'1st rows':>9} {'total s':>8} "
        f"{'MB':>8} {'rows':>8} {'peak MB':>8} {'rows/s':>9}",
        file=out,
    )
    data = console_map.generate(args.requests)
    folder = tempfile.mkdtemp(prefix="bench-exports-")
    results = {}
    try:
        results["sqlite"] = run_backend("sqlite", f"sqlite:///{folder}/connect.db", data, out)
        if args.database_url and not args.database_url.startswith("sqlite"):
            results["postgis"] = run_backend(
                "postgis",
                console_map.fresh_postgis_url(args.database_url, "bench_exports"),
                data,
                out,
            )
        else:
            print("  postgis: skipped (no DATABASE_URL; run under tools/pgcluster.py)", file=out)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        "  (ms to the first byte and to the first rows; peak MB = Python allocations while "
        "the export ran, tracemalloc: one chunk of rows, CHUNK_ROWS = "
        f"{chunk_rows()}, whatever the size of the file)",
        file=out,
    )
    return results


if __name__ == "__main__":
    main()
