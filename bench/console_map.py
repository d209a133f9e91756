"""Console map benchmark: GET /api/v1/console/map with 100,000 requests in view.

Data: 100,000 requests drawn like ``nearby.py`` (Bac Giang's bbox, 80 % clustered around its
towns), every one of them shown by the map's default (65 % open, 10 % claimed, 15 % helped
and 10 % confirmed in the last week), one or two categories, ~20 % urgent, waiting up to 70 h;
placed in province 24 (and those inside district 24-213's polygon there too) through bulk
request_areas rows; 2,000 on-duty volunteers placed likewise, claims held with their assists. The endpoint is called through the
Flask test client with a coordinator of area 24's bearer token, on SQLite + SpatiaLite and on
PostGIS (``$DATABASE_URL``, as set by ``tools/pgcluster.py run``): the whole province, a
district, a street (exact points) and filtered views. Prints p50/p95/max ms per case and
p95 against the issue's target of 200 ms.

Run as ``python bench/console_map.py [--requests N --repeat K]``; ``main(argv)`` returns the
figures.
"""

import argparse
import json
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

import nearby  # noqa: E402

TARGET_MS = 200.0
N_VOLUNTEERS = 2000
BATCH = 5000
CATEGORIES = ("food", "supplies", "medicine", "medical_advice", "other")
STATUSES = (("open", 0.65), ("claimed", 0.10), ("helped", 0.15), ("confirmed", 0.10))
PASSWORD = "bench-dieu-phoi-1"
AREAS_FILE = os.path.join(_ROOT, "connect", "data", "demo_areas.geojson")
CASES = [  # (name, query): the views a coordinator's screen (~1,300 x 800 px) shows
    ("province, zoom 10 (all in view)", {"bbox": "105.85,21.05,107.10,21.65", "zoom": 10}),
    ("district, zoom 12", {"bbox": "106.05,21.20,106.35,21.35", "zoom": 12}),
    ("street, zoom 16 (exact points)", {"bbox": "106.185,21.268,106.203,21.278", "zoom": 16}),
    (
        "province, open and claimed only",
        {"bbox": "105.85,21.05,107.10,21.65", "zoom": 10, "status": "open,claimed"},
    ),
    (
        "province, open urgent food/medicine",
        {
            "bbox": "105.85,21.05,107.10,21.65",
            "zoom": 10,
            "status": "open",
            "category": "food,medicine",
            "urgency": "urgent",
        },
    ),
    (
        "province, area 24-213, waited > 24 h",
        {"bbox": "105.85,21.05,107.10,21.65", "zoom": 10, "area": "24-213", "min_age_hours": 24},
    ),
]


def make_app(url):
    from connect import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "CONNECT_ENV": "development",
            "SECRET_KEY": "bench",
            "BLUR_SECRET": "bench",
            "TESTING": True,
            "RATELIMIT_ENABLED": False,
            "DEMO_DATA": False,
        }
    )


def fresh_postgis_url(base_url, name="bench_console_map"):
    """A new database cloned from the cluster's PostGIS template, or base_url itself."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    try:
        with psycopg.connect(
            host=url.host, port=url.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(
                f'CREATE DATABASE "{name}" OWNER "{url.username}" '
                "TEMPLATE connect_postgis_template"
            )
    except psycopg.Error:
        return base_url  # not a tools/pgcluster.py cluster: use the given database as it is
    return url.set(database=name).render_as_string(hide_password=False)


def migrate(app):
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


def generate(n, seed=20240606):
    """Columns for n requests and N_VOLUNTEERS volunteers, seeded."""
    rng = np.random.default_rng(seed)
    _, lats, lons = nearby.generate_points(n, seed)
    names = [s for s, _ in STATUSES]
    status = rng.choice(len(names), size=n, p=[p for _, p in STATUSES])
    first = rng.integers(0, len(CATEGORIES), n)
    second = rng.integers(0, len(CATEGORIES), n)
    two = (rng.random(n) < 0.25) & (first != second)
    _, v_lats, v_lons = nearby.generate_points(N_VOLUNTEERS, seed + 1)
    return {
        "lats": lats,
        "lons": lons,
        "status": [names[i] for i in status],
        "categories": [
            [CATEGORIES[a], CATEGORIES[b]] if t else [CATEGORIES[a]]
            for a, b, t in zip(first, second, two)
        ],
        "urgent": rng.random(n) < 0.2,
        "age_s": rng.uniform(60, 70 * 3600, n),
        "closed_ago_s": rng.uniform(60, 6 * 86400, n),
        "v_lats": v_lats,
        "v_lons": v_lons,
        "capacity": rng.integers(1, 4, N_VOLUNTEERS),
    }


def load(app, data):
    """Areas, volunteers, requests with their assists and placements, inserted in bulk."""
    from shapely import contains_xy
    from sqlalchemy import select

    from connect import clock
    from connect.areas.models import Area
    from connect.areas.services import import_areas
    from connect.extensions import db
    from connect.geo import area_geometry

    with open(AREAS_FILE, encoding="utf-8") as handle:
        features = json.load(handle)["features"]
    now = clock.now()
    with app.app_context():
        import_areas(features)
        db.session.commit()
        areas = dict(db.session.execute(select(Area.code, Area.id)).all())
        city = area_geometry(
            next(f["geometry"] for f in features if str(f["properties"]["code"]) == "24-213")
        )
        conn = db.session.connection()
        sqlite = conn.dialect.name == "sqlite"
        mark = "?" if sqlite else "%s"
        point = (
            f"MakePoint({mark}, {mark}, 4326)"
            if sqlite
            else f"ST_SetSRID(ST_MakePoint({mark}, {mark}), 4326)"
        )

        def insert(table, columns, rows, geometry=()):
            values = ", ".join(point if name in geometry else mark for name in columns)
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"
            for start in range(0, len(rows), BATCH):
                conn.exec_driver_sql(sql, rows[start : start + BATCH])

        # Explicit ids (a fresh database): the placements and assists need no RETURNING.
        n, m = len(data["lats"]), N_VOLUNTEERS
        insert(
            "users",
            ("id", "phone", "name", "password_hash", "role", "created_at"),
            [
                (i, f"+8490{i:07d}", f"Tình nguyện viên {i}", "x", "volunteer", now)
                for i in range(1, m + 1)
            ],
        )
        insert(
            "volunteers",
            (
                "id",
                "user_id",
                "location",
                "radius_m",
                "categories",
                "on_duty",
                "capacity",
                "created_at",
                "updated_at",
            ),
            [
                (i, i, lon, lat, 5000, json.dumps(CATEGORIES), True, int(capacity), now, now)
                for i, lat, lon, capacity in zip(
                    range(1, m + 1),
                    data["v_lats"].tolist(),
                    data["v_lons"].tolist(),
                    data["capacity"].tolist(),
                )
            ],
            geometry=("location",),
        )
        insert(
            "volunteer_areas",
            ("volunteer_id", "area_id"),
            [(i, areas["24"]) for i in range(1, m + 1)]
            + [
                (int(i) + 1, areas["24-213"])
                for i in np.flatnonzero(contains_xy(city, data["v_lons"], data["v_lats"]))
            ],
        )
        requests, assists = _request_rows(data, now)
        insert(
            "help_requests", REQUEST_COLUMNS, requests, geometry=("location", "public_location")
        )
        insert("assists", ASSIST_COLUMNS, assists)
        in_city = contains_xy(city, data["lons"], data["lats"])
        insert(
            "request_areas",
            ("request_id", "area_id"),
            [(i, areas["24"]) for i in range(1, n + 1)]
            + [(int(i) + 1, areas["24-213"]) for i in np.flatnonzero(in_city)],
        )
        if not sqlite:
            for table in ("users", "volunteers", "help_requests", "assists"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        db.session.commit()
        if sqlite:
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
        else:
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as auto:
                auto.exec_driver_sql("VACUUM ANALYZE")


REQUEST_COLUMNS = (
    "id",
    "categories",
    "description",
    "household_size",
    "urgency",
    "location",
    "public_location",
    "contact_name",
    "phone",
    "status",
    "source",
    "manage_token_hash",
    "claimed_by_id",
    "lease_expires_at",
    "created_at",
    "updated_at",
    "last_activity_at",
    "expires_at",
    "closed_at",
    "change_seq",
)
ASSIST_COLUMNS = (
    "id",
    "request_id",
    "volunteer_id",
    "claimed_at",
    "lease_expires_at",
    "outcome",
    "helped_at",
    "confirmed_at",
    "closed_at",
)


def _request_rows(data, now):
    """(request rows, assist rows): claimed, helped and confirmed requests have a claimant."""
    requests, assists = [], []
    lease = now + timedelta(hours=2)
    for i, (lat, lon, status, categories, urgent, age, closed_ago) in enumerate(
        zip(
            data["lats"].tolist(),
            data["lons"].tolist(),
            data["status"],
            data["categories"],
            data["urgent"].tolist(),
            data["age_s"].tolist(),
            data["closed_ago_s"].tolist(),
        )
    ):
        request_id = i + 1
        created = now - timedelta(seconds=age)
        claimant = i % N_VOLUNTEERS + 1 if status != "open" else None
        closed = now - timedelta(seconds=closed_ago) if status in ("helped", "confirmed") else None
        requests.append(
            (
                request_id,
                json.dumps(categories),
                "Cần gạo và trứng cho cả nhà.",
                4,
                "urgent" if urgent else "normal",
                lon,
                lat,
                lon + 0.002,
                lat + 0.002,
                "Nguyễn Văn An",
                f"+8491{i:07d}",
                status,
                "api",
                f"{i:064x}",
                claimant,
                lease if status == "claimed" else None,
                created,
                created,
                created,
                created + timedelta(hours=72),
                closed,
                0,
            )
        )
        if claimant:
            claimed_at = min(created + timedelta(minutes=30), now)
            assists.append(
                (
                    len(assists) + 1,
                    request_id,
                    claimant,
                    claimed_at,
                    lease if status == "claimed" else claimed_at + timedelta(hours=4),
                    None if status == "claimed" else status,
                    closed,
                    closed if status == "confirmed" else None,
                    closed,
                )
            )
    return requests, assists


def coordinator_headers(app):
    runner = app.test_cli_runner()
    phone = "+84989999999"
    result = runner.invoke(
        args=[
            "connect",
            "create-user",
            "--phone",
            phone,
            "--name",
            "Điều phối viên",
            "--role",
            "coordinator",
            "--password",
            PASSWORD,
            "--area",
            "24",
        ]
    )
    assert result.exit_code == 0, result.output
    token = app.test_client().post(
        "/api/v1/auth/token", json={"phone": phone, "password": PASSWORD}
    )
    assert token.status_code == 200, token.get_data(as_text=True)
    return {"Authorization": f"Bearer {token.get_json()['token']}"}


def time_case(client, headers, query, repeat, warmup=3, path="/api/v1/console/map"):
    """(p50, p95, max) in ms, the last body parsed and its size, of GET path."""
    for _ in range(warmup):
        response = client.get(path, headers=headers, query_string=query)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = client.get(path, headers=headers, query_string=query)
        body = response.get_data()
        times.append((time.perf_counter() - t0) * 1000)
    assert response.status_code == 200
    p50, p95 = np.percentile(times, [50, 95])
    return p50, p95, max(times), json.loads(body), len(body)


def run_backend(name, url, data, repeat, out=sys.stdout):
    from connect.extensions import db

    app = make_app(url)
    migrate(app)
    t0 = time.perf_counter()
    load(app, data)
    print(
        f"  {name}: {len(data['lats']):,} requests and {N_VOLUNTEERS:,} volunteers "
        f"loaded in {time.perf_counter() - t0:.1f} s",
        file=out,
    )
    headers = coordinator_headers(app)
    client = app.test_client()
    results = {}
    for case, query in CASES:
        p50, p95, worst, body, size = time_case(client, headers, query, repeat)
        results[case] = (p50, p95, worst)
        shown = (
            f"{len(body['clusters'])} clusters"
            if body["clusters"]
            else f"{len(body['points'])} points"
        )
        print(
            f"  {name:9} {case:38} {p50:7.1f} {p95:7.1f} {worst:7.1f}  "
            f"{p95 / TARGET_MS:5.2f}x  total {body['total']:>7,}: {shown}, "
            f"{len(body['heat'])} heat, {len(body['volunteers'])} volunteer cells, "
            f"{size / 1024:.0f} KB",
            file=out,
        )
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return results


def main(argv=None, out=sys.stdout):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="a PostGIS database (default: $DATABASE_URL, as set by "
        "tools/pgcluster.py run); SQLite only without one",
    )
    ap.add_argument("--backends", default="sqlite,postgis")
    args = ap.parse_args(argv)
    backends = args.backends.split(",")
    print(
        f"console map bench: GET /api/v1/console/map, {args.requests:,} requests in Bac "
        f"Giang, a coordinator of area 24, {args.repeat} calls per case "
        f"(ms: p50, p95, max; p95 / {TARGET_MS:.0f} ms target)",
        file=out,
    )
    data = generate(args.requests)
    folder = tempfile.mkdtemp(prefix="bench-console-map-")
    results = {}
    try:
        if "sqlite" in backends:
            results["sqlite"] = run_backend(
                "sqlite", f"sqlite:///{folder}/connect.db", data, args.repeat, out
            )
        if "postgis" not in backends:
            pass
        elif args.database_url and not args.database_url.startswith("sqlite"):
            results["postgis"] = run_backend(
                "postgis", fresh_postgis_url(args.database_url), data, args.repeat, out
            )
        else:
            print("  postgis: skipped (no DATABASE_URL; run under tools/pgcluster.py)", file=out)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    worst = max(p95 for backend in results.values() for _, p95, _ in backend.values())
    print(
        f"console map target: worst p95 {worst:.1f} ms = {worst / TARGET_MS:.2f}x the "
        f"{TARGET_MS:.0f} ms target ({'met' if worst <= TARGET_MS else 'MISSED'})",
        file=out,
    )
    return results


if __name__ == "__main__":
    main()
