"""The nearby read model started against a PostGIS database of 1,000,000 open requests while
writes go on (posts, cancellations, edits) catches up with nothing missed: at the end it holds
exactly what a database query finds, descriptions included.

CATCHUP_ROWS sizes the database (1,000,000 by default, as the scale issue asks)."""

import os
import random
import threading
import time

import numpy as np
import orjson
from sqlalchemy import create_engine, text

from connect.matching.readmodel import OpenRequestsReadModel

from conftest import _clone_postgis, make_app, request_payload

ROWS = int(os.environ.get("CATCHUP_ROWS", 1_000_000))
API = "/api/v1/requests"
# Bắc Giang's box, as bench/nearby.py draws its points.
LAT, LON = (21.05, 21.65), (105.85, 107.10)
GENERATE = text("""
    INSERT INTO help_requests (
        id, categories, description, household_size, urgency, location, public_location,
        contact_name, phone, status, source, manage_token_hash, created_at, updated_at,
        last_activity_at, expires_at, change_seq)
    SELECT i, '["food"]', 'Cần gạo và trứng ' || i, 1 + i % 6,
           CASE WHEN i % 5 = 0 THEN 'urgent' ELSE 'normal' END,
           ST_SetSRID(ST_MakePoint(:lon0 + random() * :dlon, :lat0 + random() * :dlat), 4326),
           ST_SetSRID(ST_MakePoint(:lon0 + random() * :dlon, :lat0 + random() * :dlat), 4326),
           'Người cần giúp', '+8498' || lpad(i::text, 7, '0'), 'open', 'api',
           encode(sha256(convert_to('catchup-' || i, 'UTF8')), 'hex'),
           now() - (i % 3000) * interval '1 minute', now(), now(),
           now() + interval '30 days', 1
    FROM generate_series(1, :rows) AS i""")

# The table's indexes but those of its constraints (the primary key, the manage token's).
INDEXES = text("""
    SELECT indexname, indexdef FROM pg_indexes
    WHERE tablename = 'help_requests' AND indexname NOT IN (SELECT conname FROM pg_constraint)""")


def _token(request_id):
    return f"catchup-{request_id}"


def test_read_model_started_on_a_million_rows_under_writes_misses_nothing(
    pg_cluster, postgis_template
):
    url = _clone_postgis(pg_cluster, postgis_template)
    engine = create_engine(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        # Rows first, indexes after, as a restore does: three times faster than row by row.
        indexes = conn.execute(INDEXES).all()
        for name, _ in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
        conn.execute(
            GENERATE,
            {
                "rows": ROWS,
                "lat0": LAT[0],
                "dlat": LAT[1] - LAT[0],
                "lon0": LON[0],
                "dlon": LON[1] - LON[0],
            },
        )
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence('help_requests', 'id'), :n)"), {"n": ROWS}
        )
        for _, definition in indexes:
            conn.execute(text(definition))
        conn.execute(text("ANALYZE help_requests"))
    generated = time.perf_counter() - started

    app = make_app(url, RATELIMIT_ENABLED=False)
    writes = Writer(app)
    writes.start()
    writes.wait_for(20)  # writes are flowing before the load starts
    model = OpenRequestsReadModel(engine, sync_interval=0.05)
    before = writes.count
    started = time.perf_counter()
    model.ensure_fresh()  # the bulk load of every open request
    loaded = time.perf_counter() - started
    during = writes.count - before
    time.sleep(0.5)
    for _ in range(5):  # catching up while writes go on
        time.sleep(0.1)
        model.ensure_fresh()
    writes.stop()
    time.sleep(0.1)
    model.ensure_fresh()
    print(
        f"\n{ROWS:,} rows generated in {generated:.1f} s; read model loaded in {loaded:.1f} s "
        f"while {during} writes committed; {writes.count} writes in all "
        f"({writes.summary()})"
    )
    assert writes.errors == [], writes.errors[:3]
    assert during >= 5, "too few writes overlapped the load to prove anything"

    with engine.connect() as conn:
        active = dict(
            conn.execute(
                text(
                    "SELECT id, description FROM help_requests WHERE status IN ('open', 'claimed')"
                )
            ).all()
        )
    held = model.requests
    held_ids = np.flatnonzero(held._text_len)
    assert len(held) == len(active) == len(held_ids)
    assert set(held_ids.tolist()) == set(active), "read model and database disagree"
    for request_id in writes.touched & set(active):  # edited and new descriptions, exactly
        at, length = int(held._text_at[request_id]), int(held._text_len[request_id])
        assert bytes(held._text[at : at + length]) == orjson.dumps(active[request_id])
    assert not writes.cancelled & set(held_ids.tolist())
    engine.dispose()


class Writer(threading.Thread):
    """Posts, cancels and edits through the API of an app on the same database, in a loop."""

    def __init__(self, app):
        super().__init__(daemon=True)
        self.client = app.test_client()
        self.random = random.Random(20211)
        self.count, self.errors = 0, []
        self.kinds = {"post": 0, "cancel": 0, "edit": 0}
        self.touched, self.cancelled = set(), set()
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            kind = self.random.choice(("post", "cancel", "edit"))
            try:
                self._write(kind)
            except Exception as exc:  # noqa: BLE001 - reported by the test's assertion
                self.errors.append(repr(exc))
                return

    def _write(self, kind):
        if kind == "post":
            response = self.client.post(
                API, json=request_payload(at=(21.2731 + self.random.random() / 100, 106.1946))
            )
            assert response.status_code == 201, response.get_json()
            self.touched.add(response.get_json()["id"])
        else:
            request_id = self.random.randint(1, ROWS)
            headers = {"X-Manage-Token": _token(request_id)}
            if kind == "cancel":
                response = self.client.post(
                    f"{API}/{request_id}/cancel", headers=headers, json={"reason": "đã đủ"}
                )
                self.cancelled.add(request_id)
            else:
                response = self.client.patch(
                    f"{API}/{request_id}",
                    headers=headers,
                    json={"description": f"Sửa lần {self.count}: cần thuốc hạ sốt"},
                )
                self.touched.add(request_id)
            # 409: this id was cancelled earlier in the run.
            assert response.status_code in (200, 409), response.get_json()
        self.kinds[kind] += 1
        self.count += 1

    def wait_for(self, count, timeout=60):
        deadline = time.monotonic() + timeout
        while self.count < count:
            assert not self.errors, self.errors[:3]
            assert time.monotonic() < deadline, "the writer made no progress"
            time.sleep(0.05)

    def stop(self):
        self._halt.set()
        self.join(timeout=30)

    def summary(self):
        return ", ".join(f"{n} {kind}s" for kind, n in self.kinds.items())
