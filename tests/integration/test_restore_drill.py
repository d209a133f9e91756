"""The restore drill of docs/operations.md, for real: a PostGIS database the app filled is dumped
with `pg_dump -Fc`, restored with `pg_restore` into a new cluster, and the app started on the
copy answers as the original did (rows per table, request events, a nearby list)."""

import os
import subprocess
import time

import psycopg
import pytest
from sqlalchemy import text

from conftest import BAC_GIANG, LUC_NAM, make_app, request_payload

API = "/api/v1/requests"
NEARBY = f"{API}/nearby?lat={BAC_GIANG[0]}&lon={BAC_GIANG[1]}&radius_m=20000&limit=200"


@pytest.fixture
def backend():
    """The drill is about PostgreSQL's own backup tools."""
    return "postgis"


def fill_through_the_app(app, client, post_request, create_volunteer, create_staff):
    """The demo seed (areas, 30 requests, staff), then requests in every state: claimed,
    released, helped, confirmed, cancelled, hidden; the claims, events and notifications that
    come with them."""
    from connect.demo import seed_demo_data
    from connect.extensions import db

    with app.app_context():
        seed_demo_data(count=30)  # `flask connect seed` makes 120: 10 s here, for no more tables
        db.session.commit()
    coordinator = create_staff()
    posted = [post_request(at=BAC_GIANG if i % 2 else LUC_NAM) for i in range(8)]
    for i, request in enumerate(posted[:6]):
        volunteer = create_volunteer(at=BAC_GIANG if i % 2 else LUC_NAM, radius_m=20000)
        act(client, request, "claim", volunteer)
        if i == 1:
            act(client, request, "release", volunteer)
        if i in (2, 3):
            act(client, request, "helped", volunteer)
        if i == 3:
            act(client, request, "confirm", {"X-Manage-Token": request["manage_token"]})
    act(
        client,
        posted[6],
        "cancel",
        {"X-Manage-Token": posted[6]["manage_token"]},
        json={"reason": "đã có người giúp"},
    )
    act(client, posted[7], "hide", coordinator, json={"reason": "spam"})


def act(client, request, action, headers, json=None):
    response = client.post(f"{API}/{request['id']}/{action}", headers=headers, json=json)
    assert response.status_code == 200, response.get_json()


def snapshot(app):
    """Rows per table, every request event, and a nearby list as the API answers it."""
    from connect.extensions import db

    with app.app_context():
        tables = db.session.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        ).scalars()
        counts = {
            table: db.session.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
            for table in tables
        }
        events = db.session.execute(
            text(
                "SELECT request_id, from_status, to_status, actor_kind, reason, created_at "
                "FROM request_events ORDER BY id"
            )
        ).all()
        db.session.remove()
    nearby = app.test_client().get(NEARBY)
    assert nearby.status_code == 200
    return counts, events, nearby.get_json()


def pg_tool(pg, name, *args):
    started = time.monotonic()
    subprocess.run(
        [os.path.join(pg.bin_dir, name), *args], check=True, capture_output=True, text=True
    )
    return time.monotonic() - started


def test_a_dump_restored_into_a_new_cluster_answers_as_the_original(
    app, client, database_url, post_request, create_volunteer, create_staff, clock, tmp_path
):
    from pgcluster import TempPostgres

    fill_through_the_app(app, client, post_request, create_volunteer, create_staff)
    counts, events, nearby = snapshot(app)
    assert counts["help_requests"] >= 38 and nearby["items"]
    assert {"notifications", "areas", "assists", "request_areas"} <= {
        table for table, rows in counts.items() if rows
    }

    source = database_url.replace("postgresql+psycopg://connect@", "postgresql://postgres@")
    dump = tmp_path / "connect.dump"
    started = time.monotonic()
    new_cluster = TempPostgres().start()
    try:
        cluster_seconds = time.monotonic() - started
        dump_seconds = pg_tool(new_cluster, "pg_dump", "-Fc", "-f", str(dump), source)
        with psycopg.connect(new_cluster.admin_dsn, autocommit=True) as conn:
            # As on a fresh server: an empty database owned by the app's role; the dump
            # brings the postgis extension, the schema and the rows.
            conn.execute("CREATE DATABASE connect_restored OWNER connect TEMPLATE template0")
        restore_seconds = pg_tool(
            new_cluster,
            "pg_restore",
            "--exit-on-error",
            "-d",
            new_cluster.dsn_for("connect_restored", "postgres"),
            str(dump),
        )
        restored = make_app(new_cluster.url_for("connect_restored"))
        try:
            assert snapshot(restored) == (counts, events, nearby)
            # The sequences came along too: the restored service takes new posts.
            response = restored.test_client().post(API, json=request_payload())
            assert response.status_code == 201, response.get_json()
            assert response.get_json()["id"] > max(r["id"] for r in nearby["items"])
        finally:
            from connect.extensions import db

            with restored.app_context():
                db.engine.dispose()
    finally:
        new_cluster.stop()
    app_rows = sum(rows for table, rows in counts.items() if table != "spatial_ref_sys")
    print(
        f"\nrestore drill: {app_rows} rows in {len(counts) - 1} tables (and PostGIS's "
        f"spatial_ref_sys) "
        f"({counts['help_requests']} requests, {len(events)} events), dump "
        f"{dump.stat().st_size / 1024:.0f} KiB in {dump_seconds:.2f} s, new cluster "
        f"{cluster_seconds:.1f} s, restore {restore_seconds:.2f} s"
    )
