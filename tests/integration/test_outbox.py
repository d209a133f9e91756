"""The outbox: work a change causes is written with the change and run by `flask connect worker`.

Workers here are real processes on the test's database (tests/support/processes.py); the app
under test has OUTBOX_INLINE off, so nothing runs until a worker takes it.
"""

import threading

import psycopg
import pytest
from sqlalchemy import func, select

from connect.extensions import db
from connect.jobs import housekeeping
from connect.notifications.delivery import notify
from connect.notifications.models import Notification
from connect.outbox import worker
from connect.outbox.models import DONE, FAILED, PENDING, OutboxEvent
from connect.outbox.queue import HANDLERS, enqueue, handles

from conftest import BAC_GIANG, make_app, new_phone, request_payload
from processes import Command, wait_for


@pytest.fixture
def app(database_url):
    app = make_app(
        database_url, OUTBOX_INLINE=False, OUTBOX_BACKOFF_SECONDS=1, OUTBOX_MAX_ATTEMPTS=3
    )
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def scratch_topics():
    """Topics a test registers for itself, forgotten afterwards."""
    added = []

    def register(topic, handler):
        handles(topic)(handler)
        added.append(topic)

    yield register
    for topic in added:
        HANDLERS.pop(topic, None)


def events(app, **where):
    with app.app_context():
        query = select(OutboxEvent).order_by(OutboxEvent.id)
        for name, value in where.items():
            query = query.where(getattr(OutboxEvent, name) == value)
        rows = db.session.execute(query).scalars().all()
        db.session.expunge_all()
        return rows


def notifications(app, **where):
    with app.app_context():
        query = select(Notification.user_id, Notification.kind, Notification.request_id)
        for name, value in where.items():
            query = query.where(getattr(Notification, name) == value)
        return db.session.execute(query.order_by(Notification.id)).all()


def worker_once(database_url, tmp_path, name="worker"):
    command = Command(["worker", "--once"], database_url, tmp_path / f"{name}.log")
    assert command.process.wait(60) == 0, command.log()
    return command.log()


def test_a_post_writes_one_event_a_concern_and_tells_no_one_in_the_request(
    app, client, create_volunteer
):
    """One event finds and tells the volunteers (fanned out by the worker), one texts the
    requester their link; nothing is delivered inside the request."""
    create_volunteer(at=BAC_GIANG)
    response = client.post("/api/v1/requests", json=request_payload())
    assert response.status_code == 201
    request_id = response.get_json()["id"]

    push, text = events(app)
    assert (push.topic, push.state, push.attempts) == ("push-request", PENDING, 0)
    assert push.payload["request_id"] == request_id
    assert (text.topic, text.state) == ("sms-send", PENDING)
    assert notifications(app) == []  # the nearest volunteers are found by the worker


def test_the_worker_process_delivers_what_the_request_left_and_stops_cleanly(
    app, client, create_volunteer, database_url, tmp_path
):
    create_volunteer(at=BAC_GIANG)
    request_id = client.post("/api/v1/requests", json=request_payload()).get_json()["id"]
    command = Command(["worker"], database_url, tmp_path / "worker.log", OUTBOX_POLL_SECONDS=0.05)

    wait_for(lambda: events(app, state=DONE), what="the event done")

    wait_for(lambda: len(events(app, state=DONE)) == 2, what="both events done")
    assert [row.request_id for row in notifications(app, kind="new_request")] == [request_id]
    for event in events(app):
        assert (event.state, event.attempts, event.last_error) == (DONE, 1, None)
        assert event.finished_at is not None
    assert command.terminate() == 0, command.log()  # SIGTERM, as systemd stops it
    assert "outbox worker running" in command.log()


def test_a_rolled_back_change_leaves_no_event(app):
    from connect.requests.services import post_request

    payload = request_payload()
    with app.app_context():
        post_request({**payload, "location": payload["location"]})
        db.session.flush()
        assert db.session.execute(select(func.count(OutboxEvent.id))).scalar_one() == 2
        db.session.rollback()
    assert events(app) == []


def batch(app):
    with app.app_context():
        return worker.run_batch()


def test_a_failing_handler_is_retried_with_backoff_then_marked_failed(app, scratch_topics, clock):
    calls = []

    def flaky(payload):
        calls.append(payload["n"])
        raise RuntimeError("gateway down")

    scratch_topics("test-flaky", flaky)
    with app.app_context():
        enqueue("test-flaky", {"n": 1})
        db.session.commit()
    first = batch(app)
    assert first.retried and not first.done
    (event,) = events(app)
    wait = (event.available_at - clock()).total_seconds()
    assert event.attempts == 1 and 0.8 <= wait <= 1.2  # OUTBOX_BACKOFF_SECONDS=1, jitter
    assert event.last_error == "RuntimeError: gateway down"
    assert not batch(app).taken  # not due yet

    clock.advance(seconds=1.3)
    batch(app)
    (event,) = events(app)
    wait = (event.available_at - clock()).total_seconds()
    assert event.attempts == 2 and 1.6 <= wait <= 2.4  # doubled

    clock.advance(seconds=2.5)
    last = batch(app)
    (event,) = events(app)
    assert last.failed == [event.id]
    assert (event.state, event.attempts) == (FAILED, 3)  # OUTBOX_MAX_ATTEMPTS=3
    clock.advance(hours=1)
    assert not batch(app).taken
    assert calls == [1, 1, 1]


def test_a_failed_handler_keeps_nothing_it_wrote_and_the_batch_goes_on(
    app, scratch_topics, create_user
):
    user, _ = create_user()

    def write_then_fail(payload):
        db.session.add(
            Notification(
                user_id=payload["user_id"],
                kind="assigned",
                payload={},
                created_at=worker.clock.now(),
            )
        )
        db.session.flush()
        raise ValueError("half done")

    scratch_topics("test-half", write_then_fail)
    with app.app_context():
        enqueue("test-half", {"user_id": user["id"]})
        notify(user["id"], "assigned", payload={"note": "kept"})
        db.session.commit()
    result = batch(app)
    assert len(result.retried) == 1 and len(result.done) == 1
    assert [row.kind for row in notifications(app)] == ["assigned"]  # only the good one


def test_an_event_for_a_topic_no_one_handles_fails_for_good(app):
    with app.app_context():
        db.session.add(
            OutboxEvent(
                topic="from-a-newer-release",
                payload={},
                state=PENDING,
                attempts=2,
                created_at=worker.clock.now(),
                available_at=worker.clock.now(),
            )
        )
        db.session.commit()
    assert len(batch(app).failed) == 1
    (event,) = events(app)
    assert "no handler for topic 'from-a-newer-release'" in event.last_error


def test_every_notification_goes_through_the_outbox(app, client, create_user):
    """Coordinators' assignments, offers and reminders too: notify() only enqueues."""
    user, _ = create_user()
    with app.app_context():
        notify(user["id"], "assigned", payload={"x": 1})
        db.session.commit()
    assert notifications(app) == []
    with app.app_context():
        worker.drain()
    assert [row.kind for row in notifications(app)] == ["assigned"]


@pytest.mark.parametrize("backend", ["postgis"])
def test_two_workers_take_every_event_exactly_once(app, create_user, database_url, tmp_path):
    """FOR UPDATE SKIP LOCKED: two worker processes share 300 events, none twice."""
    user, _ = create_user()
    with app.app_context():
        for n in range(300):
            notify(user["id"], "assigned", payload={"n": n})
        db.session.commit()
    workers = [
        Command(
            ["worker"],
            database_url,
            tmp_path / f"w{i}.log",
            OUTBOX_BATCH_SIZE=5,
            OUTBOX_POLL_SECONDS=0.05,
        )
        for i in range(2)
    ]
    try:
        wait_for(lambda: len(events(app, state=DONE)) == 300, timeout=60, what="300 events done")
    finally:
        codes = [command.terminate() for command in workers]
    assert codes == [0, 0], [command.log() for command in workers]
    with app.app_context():
        numbers = db.session.execute(select(Notification.payload)).scalars().all()
    assert sorted(payload["n"] for payload in numbers) == list(range(300))
    assert {event.attempts for event in events(app)} == {1}


@pytest.mark.parametrize("backend", ["postgis"])
def test_a_killed_worker_loses_nothing_and_repeats_nothing(
    app, create_user, database_url, tmp_path
):
    """Killed mid-batch (its insert blocked by a row lock we hold), the worker committed
    nothing; a new worker delivers every event once."""
    user, _ = create_user()
    with app.app_context():
        for n in range(3):
            notify(user["id"], "assigned", payload={"n": n})
        db.session.commit()
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as blocker:
        # A notification's foreign key needs a share lock on its user's row: held here.
        blocker.execute("SELECT id FROM users WHERE id = %s FOR UPDATE", (user["id"],))
        first = Command(["worker"], database_url, tmp_path / "first.log")
        wait_for(lambda: _waiting_on_lock(dsn), timeout=30, what="the worker to block")
        first.kill()
        blocker.rollback()
    assert {(e.state, e.attempts) for e in events(app)} == {(PENDING, 0)}
    assert notifications(app) == []

    output = worker_once(database_url, tmp_path, "second")
    assert "events done: 3, retried: 0, failed: 0" in output
    assert sorted(row.kind for row in notifications(app)) == ["assigned"] * 3
    assert {(e.state, e.attempts) for e in events(app)} == {(DONE, 1)}


def _waiting_on_lock(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        return (
            conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                "'Lock' AND query ILIKE '%notifications%'"
            ).fetchone()[0]
            > 0
        )


def test_inline_mode_runs_the_events_right_after_the_commit(database_url, create_user):
    """What the other test modules use: the real worker code, run as the commit returns."""
    inline = make_app(database_url, OUTBOX_INLINE=True)
    client = inline.test_client()
    phone = new_phone()
    assert (
        client.post(
            "/api/v1/auth/register",
            json={"phone": phone, "password": "mat-khau-1", "name": "Trần Bình"},
        ).status_code
        == 201
    )
    response = client.post("/api/v1/requests", json=request_payload())
    assert response.status_code == 201
    assert [(e.topic, e.state) for e in events(inline)] == [
        ("push-request", DONE),
        ("sms-send", DONE),
    ]
    with inline.app_context():
        db.session.remove()
        db.engine.dispose()


def test_backlog_counts_pending_events_and_the_oldest_wait(app, clock, create_user):
    user, _ = create_user()
    with app.app_context():
        notify(user["id"], "assigned", payload={})
        db.session.commit()
        clock.advance(seconds=90)
        notify(user["id"], "assigned", payload={})
        db.session.commit()
        assert worker.backlog() == (2, 90.0)
        db.session.commit()
        worker.drain()
        assert worker.backlog() == (0, 0.0)


def test_the_worker_loop_keeps_going_when_the_database_is_away(app, monkeypatch):
    """A failing batch is logged and tried again; stop() ends the loop."""
    calls = []

    def broken_batch(**_kwargs):
        calls.append(1)
        if len(calls) >= 3:
            loop.stop()
        raise RuntimeError("database restarting")

    monkeypatch.setattr(worker, "run_batch", broken_batch)
    loop = worker.Worker(app, poll_seconds=0.01)
    thread = threading.Thread(target=loop.run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and len(calls) == 3


def test_finished_events_are_forgotten_after_outbox_keep_days(app, clock, create_user):
    user, _ = create_user()
    with app.app_context():
        notify(user["id"], "assigned", payload={})
        db.session.commit()
        worker.drain()
        clock.advance(days=app.config["OUTBOX_KEEP_DAYS"], seconds=1)
        notify(user["id"], "assigned", payload={})  # pending: kept whatever its age
        db.session.commit()
        assert housekeeping() == "outbox events removed: 1, job runs removed: 0, codes removed: 0"
        db.session.commit()
    assert [e.state for e in events(app)] == [PENDING]
