"""Jobs on a schedule, each occurrence run once however many schedulers run, on any hosts.

A scheduler takes a due job by a conditional UPDATE of its row in ``scheduled_jobs`` (due,
and not held, or held by a lease that ran out): the database lets exactly one UPDATE match,
so one scheduler runs that occurrence. It records the run in ``job_runs``, does the job's work
in a transaction of its own, and then sets the next occurrence and gives the lease back, only
if it still holds it. A scheduler that dies mid-run holds the job until its lease ends; then
another takes it over (a job's work is safe to repeat: expire, remind, purge).
"""

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from connect import clock, metrics
from connect.extensions import db
from connect.scheduler.models import JobRun, ScheduledJob

log = logging.getLogger("connect.scheduler")
RETRY_AFTER_FAILURE = timedelta(seconds=60)


@dataclass(frozen=True)
class Job:
    """A job: its name, how often it runs, its work, and how long one run may hold it."""

    name: str
    every: timedelta
    work: Callable[[], str]  # does its work in db.session (flushed) and says what it did
    lease: timedelta = timedelta(minutes=10)


def runner_name():
    """This process, as job rows and runs name it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def next_occurrence(scheduled_for, every, now):
    """The first occurrence after ``now`` on the job's grid (missed ones are skipped)."""
    if scheduled_for > now:
        return scheduled_for
    missed = (now - scheduled_for) // every
    return scheduled_for + (missed + 1) * every


def forget_runs(before):
    """Delete job runs that finished before ``before``; flushes, returns how many."""
    return db.session.execute(
        delete(JobRun)
        .where(JobRun.finished_at < before)
        .execution_options(synchronize_session=False)
    ).rowcount


class Scheduler:
    """Runs due jobs; ``run()`` loops until ``stop()``."""

    def __init__(self, app, jobs, name=None, tick_seconds=None):
        self.app = app
        self.jobs = tuple(jobs)
        self.name = name or runner_name()
        self.tick_seconds = tick_seconds or app.config["SCHEDULER_TICK_SECONDS"]
        self.stopping = threading.Event()

    def stop(self, *_signal):
        """Finish the job in hand, then return from run() (SIGTERM, SIGINT)."""
        self.stopping.set()

    def run(self):
        """Run due jobs every tick until stopped."""
        while not self.stopping.is_set():
            with self.app.app_context():
                try:
                    self.run_due()
                except Exception:  # the database may be restarting: try again next tick
                    log.exception("scheduler tick failed; retrying")
                    db.session.rollback()
                finally:
                    db.session.remove()
            self.stopping.wait(self.tick_seconds)

    def run_due(self, now=None):
        """Run every job that is due and free; returns the JobRuns this scheduler made."""
        self._ensure_rows(now or clock.now())
        runs = []
        for job in self.jobs:
            if self.stopping.is_set():
                break
            run = self._run_if_due(job)
            if run is not None:
                runs.append(run)
        return runs

    def _ensure_rows(self, now):
        insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        db.session.execute(
            insert(ScheduledJob)
            .values([{"name": job.name, "next_run_at": now} for job in self.jobs])
            .on_conflict_do_nothing(index_elements=["name"])
        )
        db.session.commit()

    def _run_if_due(self, job):
        now = clock.now()
        row = ScheduledJob
        taken = db.session.execute(
            update(row)
            .where(
                row.name == job.name,
                row.next_run_at <= now,
                or_(row.locked_until.is_(None), row.locked_until < now),
            )
            .values(locked_by=self.name, locked_until=now + job.lease)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            db.session.rollback()
            return None
        scheduled_for = db.session.execute(
            select(row.next_run_at).where(row.name == job.name)
        ).scalar_one()
        run = JobRun(job=job.name, scheduled_for=scheduled_for, runner=self.name, started_at=now)
        db.session.add(run)
        db.session.commit()
        try:
            with metrics.timed_job(job.name):
                run.summary = job.work()
                db.session.commit()
            run.ok = True
            # One line a run, for `journalctl -u connect-scheduler`.
            log.info("job %s done: %s", job.name, run.summary)
        except Exception as exc:  # recorded and retried soon; other jobs go on
            db.session.rollback()
            run.ok, run.summary = False, f"{type(exc).__name__}: {exc}"[:500]
            log.exception("job %s failed", job.name)
        self._finish(job, run, scheduled_for)
        return run

    def _finish(self, job, run, scheduled_for):
        now = clock.now()
        run.finished_at = now
        values = {"locked_by": None, "locked_until": None}
        if run.ok:
            values.update(
                next_run_at=next_occurrence(scheduled_for, job.every, now),
                last_success_at=now,
                last_error=None,
            )
        else:
            values.update(
                next_run_at=now + min(job.every, RETRY_AFTER_FAILURE), last_error=run.summary
            )
        row = ScheduledJob
        kept = db.session.execute(
            update(row)
            .where(row.name == job.name, row.locked_by == self.name)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if kept != 1:
            # The lease ran out mid-run and another scheduler has the job now.
            log.warning(
                "job %s outlived its lease (%s); another scheduler holds it", job.name, job.lease
            )
        db.session.commit()
