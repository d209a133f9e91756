"""Console statistics benchmark: GET /api/v1/stats/console over 100,000 requests.

Data: the console map bench's 100,000 requests (bench/console_map.py: Bac Giang, posted over
the last 70 h, 65 % open, 10 % claimed, 15 % helped, 10 % confirmed, all in province 24),
with their events: posted, claimed 1-120 min after posting (not the open ones), helped 10 min
to 6 h after the claim, confirmed when closed. The medians fetch one duration per request
(SQLite has no percentile function), so this measures that too. Called through the Flask
test client as a coordinator of area 24, on SQLite + SpatiaLite and on PostGIS
(``$DATABASE_URL``, as set by ``tools/pgcluster.py run``). Prints p50/p95/max ms per case.

Run as ``python bench/console_stats.py [--requests N --repeat K]``.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import timedelta

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
for _p in (_ROOT, _HERE):  # runnable from anywhere without installing
    if _p not in sys.path:
        sys.path.insert(0, _p)

import console_map  # noqa: E402

BATCH = 5000
CASES = [
    ("last 30 days (default)", {}),
    ("366 days", {"from": "2000-01-01"}),  # replaced by a range ending today below
    ("area 24-213, food", {"area": "24-213", "category": "food"}),
    ("open only", {"status": "open"}),
]


def add_events(app, seed=20240607):
    """The events of each request's history, with random delays; returns their number."""
    from sqlalchemy import insert, select

    from connect.extensions import db
    from connect.requests.models import HelpRequest, RequestEvent

    rng = np.random.default_rng(seed)
    with app.app_context():
        rows = db.session.execute(
            select(
                HelpRequest.id, HelpRequest.status, HelpRequest.created_at, HelpRequest.closed_at
            ).order_by(HelpRequest.id)
        ).all()
        claim_s = rng.uniform(60, 7200, len(rows))
        help_s = rng.uniform(600, 6 * 3600, len(rows))
        events = []
        for (request_id, status, created, closed), to_claim, to_help in zip(
            rows, claim_s.tolist(), help_s.tolist()
        ):
            events.append(_event(request_id, None, "open", created))
            if status == "open":
                continue
            claimed = created + timedelta(seconds=to_claim)
            events.append(_event(request_id, "open", "claimed", claimed))
            if status in ("helped", "confirmed"):
                events.append(
                    _event(request_id, "claimed", "helped", claimed + timedelta(seconds=to_help))
                )
            if status == "confirmed":
                events.append(
                    _event(
                        request_id,
                        "helped",
                        "confirmed",
                        max(closed, claimed + timedelta(seconds=to_help + 60)),
                    )
                )
        for start in range(0, len(events), BATCH):
            db.session.execute(insert(RequestEvent), events[start : start + BATCH])
        db.session.commit()
        return len(events)


def _event(request_id, from_status, to_status, at):
    return {
        "request_id": request_id,
        "from_status": from_status,
        "to_status": to_status,
        "actor_kind": "system",
        "created_at": at,
    }


def run_backend(name, url, data, repeat, out=sys.stdout):
    from connect.coordination.statistics.services import today
    from connect.extensions import db

    app = console_map.make_app(url)
    console_map.migrate(app)
    t0 = time.perf_counter()
    console_map.load(app, data)
    n_events = add_events(app)
    print(
        f"  {name}: {len(data['lats']):,} requests and {n_events:,} events loaded in "
        f"{time.perf_counter() - t0:.1f} s",
        file=out,
    )
    headers = console_map.coordinator_headers(app)
    client = app.test_client()
    with app.app_context():
        last = today()
    results = {}
    for case, query in CASES:
        if "from" in query:
            query = {"from": (last - timedelta(days=365)).isoformat(), "to": last.isoformat()}
        p50, p95, worst, body, _ = console_map.time_case(
            client, headers, query, repeat, warmup=2, path="/api/v1/stats/console"
        )
        results[case] = (p50, p95, worst)
        print(
            f"  {name:9} {case:24} {p50:8.1f} {p95:8.1f} {worst:8.1f}   posted "
            f"{body['requests_posted']:>7,}, helped {sum(d['helped'] for d in body['assists_per_day']):>6,}, "
            f"rate {body['fulfilment_rate'] or 0:.2f}, claim {body['median_time_to_claim_s'] or 0:.0f} s, "
            f"help {body['median_time_to_help_s'] or 0:.0f} s, open {body['open_total']:,}",
            file=out,
        )
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return results


def main(argv=None, out=sys.stdout):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--backend", choices=("both", "sqlite", "postgis"), default="both")
    args = ap.parse_args(argv)
    data = console_map.generate(args.requests)
    print(f"console statistics, {args.requests:,} requests: ms  p50 p95 max", file=out)
    results = {}
    if args.backend in ("both", "sqlite"):
        folder = tempfile.mkdtemp(prefix="bench-stats-")
        try:
            results["sqlite"] = run_backend(
                "sqlite", f"sqlite:///{folder}/connect.db", data, args.repeat, out
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    if args.backend in ("both", "postgis"):
        base = os.environ.get("DATABASE_URL", "")
        if base.startswith("postgresql"):
            url = console_map.fresh_postgis_url(base)
            results["postgis"] = run_backend("postgis", url, data, args.repeat, out)
        else:
            print("  postgis: skipped (no postgresql DATABASE_URL)", file=out)
    return results


if __name__ == "__main__":
    main()
