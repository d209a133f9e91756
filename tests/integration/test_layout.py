"""The production layout on loopback, as docs/deploy.md sets it up: PostGIS, Redis, gunicorn
with two workers, two outbox workers and two schedulers, configured for production.

It proves what a province relies on: volunteers hear of a need through the worker; a lapsed
lease is persisted by the scheduler; a request closed longer than PURGE_AFTER_DAYS is
anonymised in PostGIS; no job runs twice with two schedulers; stopping the workers and
starting one again loses no queued event and repeats none.
"""
from collections import Counter

import pytest
import requests
from conftest import BAC_GIANG, new_phone, request_payload
from processes import Command, Gunicorn, Redis, wait_for
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.slow

SETTINGS = {
    "CONNECT_ENV": "production", "SECRET_KEY": "layout-" + "k" * 40,
    "BLUR_SECRET": "layout-" + "b" * 40, "SESSION_COOKIE_SECURE": "0",
    "RATELIMIT_ENABLED": "1",
    # Short times, so a lease lapses and a closed request is purged within the test.
    "CLAIM_LEASE_SECONDS": "4", "LEASE_REMINDER_SECONDS": "0", "PURGE_AFTER_DAYS": "0",
    "SCHEDULE_EXPIRE_SECONDS": "1", "SCHEDULE_PURGE_SECONDS": "1",
    "SCHEDULE_LEASE_REMINDERS_SECONDS": "1", "SCHEDULE_IDEMPOTENCY_KEYS_SECONDS": "1",
    "SCHEDULER_TICK_SECONDS": "0.1", "OUTBOX_POLL_SECONDS": "0.1", "PUSH_MAX_PER_HOUR": "100",
}


@pytest.fixture
def layout(database_url, tmp_path):
    redis = Redis(tmp_path).wait_ready()
    settings = {**SETTINGS, "RATELIMIT_STORAGE_URI": redis.url}
    processes = {"web": Gunicorn(database_url, tmp_path / "web.log", workers=2, **settings)}
    for name in ("worker-1", "worker-2"):
        processes[name] = Command(["worker"], database_url, tmp_path / f"{name}.log", **settings)
    for name in ("scheduler-1", "scheduler-2"):
        processes[name] = Command(["scheduler"], database_url, tmp_path / f"{name}.log",
                                  **settings)
    processes["web"].wait_ready()
    engine = create_engine(database_url)
    try:
        yield processes, engine, settings, database_url
    finally:
        for process in processes.values():
            process.terminate()
        redis.stop()
        engine.dispose()


def sql(engine, query, **params):
    with engine.connect() as conn:
        return conn.execute(text(query), params).all()


def volunteer(base):
    phone, password = new_phone(), "mat-khau-1"
    assert requests.post(f"{base}/api/v1/auth/register", json={
        "phone": phone, "password": password, "name": "Lê Văn Cường"}).status_code == 201
    token = requests.post(f"{base}/api/v1/auth/token",
                          json={"phone": phone, "password": password}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.put(f"{base}/api/v1/volunteers/me", headers=headers, json={
        "location": {"lat": BAC_GIANG[0], "lon": BAC_GIANG[1]}, "radius_m": 5000,
        "categories": ["food"], "on_duty": True, "capacity": 3}).status_code == 200
    return headers


def inbox(base, headers):
    response = requests.get(f"{base}/api/v1/notifications", headers=headers)
    assert response.status_code == 200
    return [(item["kind"], item["request_id"]) for item in response.json()["items"]]


def post(base):
    response = requests.post(f"{base}/api/v1/requests", json=request_payload())
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize("backend", ["postgis"])
def test_the_production_layout_keeps_its_promises(layout, tmp_path):
    processes, engine, settings, database_url = layout
    base = processes["web"].base
    headers = volunteer(base)

    # A need reaches the volunteer through a worker, not the request.
    need = post(base)
    wait_for(lambda: ("new_request", need["id"]) in inbox(base, headers), timeout=20,
             what="the push through the worker")

    # A claim whose lease lapses is reopened by the scheduler (no page read it).
    assert requests.post(f"{base}/api/v1/requests/{need['id']}/claim",
                         headers=headers).status_code == 200
    wait_for(lambda: sql(engine, "SELECT status FROM help_requests WHERE id = :id",
                         id=need["id"]) == [("open",)], timeout=30,
             what="the scheduler to persist the lapsed lease")
    assert sql(engine, "SELECT count(*) FROM request_events WHERE request_id = :id "
                       "AND reason LIKE '%lease%'", id=need["id"])[0][0] == 1
    wait_for(lambda: ("lease_expired", need["id"]) in inbox(base, headers), timeout=20,
             what="the claimant told of the lapse")

    # A closed request is anonymised in PostGIS by the scheduler's purge.
    closed = post(base)
    assert requests.post(f"{base}/api/v1/requests/{closed['id']}/cancel", json={},
                         headers={"X-Manage-Token": closed["manage_token"]}).status_code == 200
    wait_for(lambda: sql(engine, "SELECT phone, contact_name, purged_at IS NOT NULL, "
                                 "ST_Equals(location, public_location) FROM help_requests "
                                 "WHERE id = :id", id=closed["id"]) == [("", "", True, True)],
             timeout=30, what="the purge in PostGIS")

    # Two schedulers, each occurrence once.
    runs = sql(engine, "SELECT job, scheduled_for, runner FROM job_runs")
    occurrences = Counter((job, at) for job, at, _ in runs)
    assert max(occurrences.values()) == 1, occurrences.most_common(3)
    assert {job for job, _ in occurrences} >= {"expire", "purge", "lease-reminders"}

    # Workers stopped: events wait in the outbox; one worker started again delivers each once.
    for name in ("worker-1", "worker-2"):
        assert processes[name].terminate() == 0, processes[name].log()
    waiting = [post(base) for _ in range(5)]
    assert sql(engine, "SELECT count(*) FROM outbox WHERE state = 'pending'")[0][0] >= 5
    processes["worker-3"] = Command(["worker"], database_url, tmp_path / "worker-3.log",
                                    **settings)
    wait_for(lambda: sql(engine, "SELECT count(*) FROM outbox WHERE state = 'pending'")
             == [(0,)], timeout=30, what="the restarted worker to drain the outbox")
    told = Counter(request_id for kind, request_id in inbox(base, headers)
                   if kind == "new_request")
    assert [told[item["id"]] for item in waiting] == [1] * 5
    assert sql(engine, "SELECT count(*) FROM outbox WHERE attempts <> 1")[0][0] == 0
    for name in ("web", "scheduler-1", "scheduler-2", "worker-3"):
        assert processes[name].running(), f"{name} stopped:\n{processes[name].log()[-3000:]}"
