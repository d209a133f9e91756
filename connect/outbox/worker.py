"""The outbox worker: takes due events, runs their handlers, retries failures with backoff.

A batch is one transaction. Its events are taken with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so workers on any number of hosts never take the same one; on SQLite the batch
holds the write lock, so one worker is the layout. Each handler runs in a savepoint, and its
event is marked done (or rescheduled, or failed for good after OUTBOX_MAX_ATTEMPTS) in the
same transaction: a handler's database writes and its "done" commit together, so they happen
exactly once. A worker killed mid-batch commits nothing and the events are taken again: at
least once for anything a handler does outside the database (SMS, Web Push).
"""

import logging
import random
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app, has_app_context
from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session

from connect import clock, metrics
from connect.extensions import db
from connect.outbox.models import DONE, FAILED, PENDING, OutboxEvent
from connect.outbox.queue import ENQUEUED, HANDLERS

log = logging.getLogger("connect.outbox")
_inline = threading.local()


@dataclass
class BatchResult:
    """What one batch did, by event id."""

    done: list = field(default_factory=list)
    retried: list = field(default_factory=list)
    failed: list = field(default_factory=list)

    @property
    def taken(self):
        return len(self.done) + len(self.retried) + len(self.failed)


def backoff(attempts, config=None):
    """Seconds to wait before attempt ``attempts + 1``: doubling, capped, with jitter."""
    config = config or current_app.config
    delay = min(
        config["OUTBOX_BACKOFF_MAX_SECONDS"],
        config["OUTBOX_BACKOFF_SECONDS"] * 2 ** max(0, attempts - 1),
    )
    # Jitter spreads the retries of events that failed together (a gateway down).
    return delay * random.uniform(0.8, 1.2)


def run_batch(limit=None, now=None):
    """Take up to ``limit`` due events, run them, and commit; returns a BatchResult.

    The batch is a transaction of its own: call it with none in progress."""
    config = current_app.config
    limit = limit or config["OUTBOX_BATCH_SIZE"]
    now = now or clock.now()
    due = (OutboxEvent.state == PENDING, OutboxEvent.available_at <= now)
    query = select(OutboxEvent).where(*due).order_by(OutboxEvent.id).limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    else:
        # SQLite has one write lock for everyone: look first, and take it only for work.
        db.session.connection(execution_options={"readonly": True})
        found = db.session.execute(select(OutboxEvent.id).where(*due).limit(1)).first()
        db.session.rollback()
        if found is None:
            return BatchResult()
        db.session.connection(execution_options={"write": True})  # BEGIN IMMEDIATE
    result = BatchResult()
    try:
        events = db.session.execute(query).scalars().all()
        topics = {event.id: event.topic for event in events}
        for event in events:
            _run_one(event, now, config, result)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    for event_id in result.done:
        metrics.outbox_processed(topics[event_id])
    for event_id in result.retried + result.failed:
        metrics.outbox_failed(topics[event_id])
    return result


def _run_one(event, now, config, result):
    event.attempts += 1
    try:
        handler = HANDLERS.get(event.topic)
        if handler is None:
            raise LookupError(f"no handler for topic {event.topic!r} in this process")
        with db.session.begin_nested():
            handler(dict(event.payload or {}))
    except Exception as exc:  # any handler failure is retried; the batch goes on
        event.last_error = f"{type(exc).__name__}: {exc}"[:500]
        if event.attempts >= config["OUTBOX_MAX_ATTEMPTS"]:
            event.state, event.finished_at = FAILED, now
            result.failed.append(event.id)
            log.error(
                "outbox event %s (%s) failed for good after %s attempts: %s",
                event.id,
                event.topic,
                event.attempts,
                event.last_error,
            )
        else:
            event.available_at = now + timedelta(seconds=backoff(event.attempts, config))
            result.retried.append(event.id)
            log.warning(
                "outbox event %s (%s) failed (attempt %s), retrying: %s",
                event.id,
                event.topic,
                event.attempts,
                event.last_error,
            )
        return
    event.state, event.finished_at, event.last_error = DONE, now, None
    result.done.append(event.id)


def drain(max_batches=None, now=None):
    """Run batches until no due event is left; returns the total BatchResult."""
    total = BatchResult()
    batches = 0
    while max_batches is None or batches < max_batches:
        result = run_batch(now=now)
        batches += 1
        total.done += result.done
        total.retried += result.retried
        total.failed += result.failed
        if not result.taken:
            break
    return total


def forget_finished(before):
    """Delete events that finished (done or failed) before ``before``; flushes, returns how many."""
    return db.session.execute(
        delete(OutboxEvent)
        .where(OutboxEvent.state != PENDING, OutboxEvent.finished_at < before)
        .execution_options(synchronize_session=False)
    ).rowcount


def backlog(now=None):
    """(pending events, seconds the oldest one has waited) for metrics and checks."""
    now = now or clock.now()
    if not db.session().in_transaction():
        db.session.connection(execution_options={"readonly": True})  # no SQLite write lock
    count, oldest = db.session.execute(
        select(func.count(OutboxEvent.id), func.min(OutboxEvent.created_at)).where(
            OutboxEvent.state == PENDING
        )
    ).one()
    return count, max(0.0, (now - oldest).total_seconds()) if oldest else 0.0


class Worker:
    """The long-running worker: batches while there is work, a short sleep when there is none."""

    def __init__(self, app, poll_seconds=None):
        self.app = app
        self.poll_seconds = poll_seconds or app.config["OUTBOX_POLL_SECONDS"]
        self.stopping = threading.Event()

    def stop(self, *_signal):
        """Finish the batch in hand, then return from run() (SIGTERM, SIGINT)."""
        self.stopping.set()

    def run(self):
        """Work until stop() is called."""
        while not self.stopping.is_set():
            with self.app.app_context():
                try:
                    result = run_batch()
                    metrics.set_outbox_backlog(*backlog())
                    db.session.rollback()
                except Exception:  # the database may be restarting: try again shortly
                    log.exception("outbox batch failed; retrying")
                    result = BatchResult()
                finally:
                    db.session.remove()
            if not result.taken:
                self.stopping.wait(self.poll_seconds)


def install_inline(app):
    """With OUTBOX_INLINE (tests, a demo without a worker), every commit that enqueued events
    runs them before the committing code goes on, as the worker would."""
    app.extensions["outbox_inline"] = bool(app.config["OUTBOX_INLINE"])
    if not event.contains(Session, "after_commit", _drain_after_commit):
        event.listen(Session, "after_commit", _drain_after_commit)


def _drain_after_commit(session):
    if not session.info.pop(ENQUEUED, False) or getattr(_inline, "draining", False):
        return  # nothing enqueued, or a commit of the drain itself
    if not (has_app_context() and current_app.extensions.get("outbox_inline")):
        return
    app = current_app._get_current_object()

    def work():
        _inline.draining = True
        with app.app_context():
            try:
                drain()
            except Exception:
                log.exception("inline outbox drain failed")
            finally:
                db.session.remove()

    # A thread of its own, so a session of its own: the committing one is mid-commit.
    thread = threading.Thread(target=work, name="outbox-inline")
    thread.start()
    thread.join()
