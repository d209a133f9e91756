"""`flask connect scheduler`: expire, lease reminders, purge and clean-ups, each occurrence once.

Most tests drive the scheduler in process with a frozen clock; two real scheduler processes
race on one database in the exactly-once test.
"""

from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from connect.extensions import db
from connect.jobs import schedule
from connect.requests.models import HelpRequest
from connect.scheduler.engine import Job, Scheduler, next_occurrence
from connect.scheduler.models import JobRun, ScheduledJob

from conftest import BAC_GIANG, make_app, request_payload
from processes import Command, wait_for

JOBS = ("expire", "lease-reminders", "checkins", "purge", "idempotency-keys", "housekeeping")


@pytest.fixture
def app(database_url):
    app = make_app(database_url, OUTBOX_INLINE=False)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def scheduler(app, jobs=None, name="test-scheduler"):
    return Scheduler(app, jobs if jobs is not None else schedule(app.config), name=name)


def run_due(app, sched):
    with app.app_context():
        runs = sched.run_due()
        return [(run.job, run.ok, run.summary) for run in runs]


def job_rows(app):
    with app.app_context():
        rows = {row.name: row for row in db.session.execute(select(ScheduledJob)).scalars()}
        db.session.expunge_all()
        return rows


def test_every_job_runs_at_start_then_on_its_interval(app, clock):
    start = clock()
    sched = scheduler(app)
    assert [job for job, ok, _ in run_due(app, sched) if ok] == list(JOBS)
    assert run_due(app, sched) == []

    clock.advance(seconds=60)
    assert [job for job, *_ in run_due(app, sched)] == ["expire", "lease-reminders"]
    clock.advance(seconds=3600)
    assert [job for job, *_ in run_due(app, sched)] == list(JOBS)
    rows = job_rows(app)
    assert rows["purge"].last_success_at == clock()
    assert rows["purge"].next_run_at == start + timedelta(hours=2)  # on its hourly grid
    assert all(row.locked_by is None for row in rows.values())


def test_the_expire_job_persists_a_lapsed_lease(app, client, clock, create_volunteer):
    request_id = client.post("/api/v1/requests", json=request_payload()).get_json()["id"]
    headers = create_volunteer(at=BAC_GIANG)
    assert client.post(f"/api/v1/requests/{request_id}/claim", headers=headers).status_code == 200
    clock.advance(seconds=app.config["CLAIM_LEASE_SECONDS"] + 1)

    runs = dict((job, summary) for job, _, summary in run_due(app, scheduler(app)))

    assert runs["expire"].startswith("leases lapsed: 1,")
    with app.app_context():
        stored = db.session.get(HelpRequest, request_id)
        assert (stored.status, stored.claimed_by_id) == ("open", None)


def test_the_purge_job_anonymises_a_request_closed_long_enough_ago(app, client, clock):
    posted = client.post("/api/v1/requests", json=request_payload()).get_json()
    assert (
        client.post(
            f"/api/v1/requests/{posted['id']}/cancel",
            headers={"X-Manage-Token": posted["manage_token"]},
            json={},
        ).status_code
        == 200
    )
    clock.advance(days=app.config["PURGE_AFTER_DAYS"], seconds=1)

    runs = dict((job, summary) for job, _, summary in run_due(app, scheduler(app)))

    assert runs["purge"].startswith("requests purged: 1,")
    with app.app_context():
        stored = db.session.get(HelpRequest, posted["id"])
        assert (stored.phone, stored.contact_name, stored.purged_at) == ("", "", clock())


def test_a_failing_job_is_recorded_and_retried_soon_and_the_others_still_run(app, clock):
    def broken():
        raise RuntimeError("disk full")

    jobs = (
        Job("broken", timedelta(hours=6), broken),
        Job("fine", timedelta(hours=6), lambda: "did it"),
    )
    sched = scheduler(app, jobs)
    assert run_due(app, sched) == [
        ("broken", False, "RuntimeError: disk full"),
        ("fine", True, "did it"),
    ]
    row = job_rows(app)["broken"]
    assert row.last_error == "RuntimeError: disk full" and row.last_success_at is None
    assert row.next_run_at == clock() + timedelta(seconds=60)  # not six hours
    clock.advance(seconds=60)
    assert [job for job, *_ in run_due(app, sched)] == ["broken"]


def test_a_job_held_by_a_dead_scheduler_is_taken_over_when_its_lease_ends(app, clock):
    jobs = (Job("held", timedelta(minutes=5), lambda: "ran", lease=timedelta(minutes=10)),)
    sched = scheduler(app, jobs)
    run_due(app, sched)
    clock.advance(minutes=5)
    with app.app_context():  # another host took it and died
        db.session.execute(
            update(ScheduledJob).values(
                locked_by="gone:1", locked_until=clock() + timedelta(minutes=10)
            )
        )
        db.session.commit()
    assert run_due(app, sched) == []
    clock.advance(minutes=10, seconds=1)
    assert run_due(app, sched) == [("held", True, "ran")]


def test_a_run_that_outlives_its_lease_does_not_overwrite_the_new_holder(app, clock, caplog):
    def slow():
        clock.advance(minutes=2)  # past its one-minute lease; another scheduler took it
        db.session.execute(update(ScheduledJob).values(locked_by="other:2"))
        return "late"

    sched = scheduler(app, (Job("slow", timedelta(minutes=5), slow, lease=timedelta(minutes=1)),))
    assert run_due(app, sched) == [("slow", True, "late")]
    row = job_rows(app)["slow"]
    assert row.locked_by == "other:2" and row.last_success_at is None
    assert "outlived its lease" in caplog.text


def test_missed_occurrences_are_skipped_not_run_one_after_another():
    start = datetime(2026, 1, 1)
    every = timedelta(minutes=10)
    assert next_occurrence(start, every, start) == start + every
    assert next_occurrence(start, every, start + timedelta(minutes=95)) == start + timedelta(
        minutes=100
    )
    assert next_occurrence(start + every, every, start) == start + every


def test_two_scheduler_processes_run_each_occurrence_once(app, database_url, tmp_path):
    settings = {
        "SCHEDULE_EXPIRE_SECONDS": 1,
        "SCHEDULE_LEASE_REMINDERS_SECONDS": 1,
        "SCHEDULE_IDEMPOTENCY_KEYS_SECONDS": 1,
        "SCHEDULER_TICK_SECONDS": 0.05,
    }
    schedulers = [
        Command(["scheduler"], database_url, tmp_path / f"s{i}.log", **settings) for i in range(2)
    ]

    def runs():
        with app.app_context():
            return db.session.execute(
                select(JobRun.job, JobRun.scheduled_for, JobRun.runner, JobRun.ok)
            ).all()

    try:
        wait_for(
            lambda: Counter(run.job for run in runs())["expire"] >= 3,
            timeout=60,
            what="three runs of expire",
        )
    finally:
        codes = [command.terminate() for command in schedulers]
    assert codes == [0, 0], [command.log() for command in schedulers]
    done = runs()
    occurrences = Counter((run.job, run.scheduled_for) for run in done)
    assert occurrences and max(occurrences.values()) == 1, occurrences.most_common(3)
    assert all(run.ok for run in done)
    assert {job for job, _ in occurrences} == set(JOBS)
