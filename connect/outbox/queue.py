"""Writing to the outbox, and who handles each topic.

A change enqueues its events in its own transaction, so they are committed with it or not at
all; the worker (connect.outbox.worker) runs them afterwards, outside any request. Domains
register a handler per topic at start-up (create_app), so every process knows them all.
"""

from connect import clock
from connect.extensions import db
from connect.outbox.models import PENDING, OutboxEvent

# Set on a session that enqueued events (the inline drain looks for it).
ENQUEUED = "connect_outbox_enqueued"
# topic -> handler(payload); a handler runs inside the worker's transaction and flushes.
HANDLERS = {}


def handles(topic):
    """Register the decorated function as the handler of ``topic`` (one handler a topic)."""

    def register(handler):
        known = HANDLERS.get(topic)
        if known is not None and known is not handler:
            raise ValueError(f"outbox topic {topic!r} already has a handler: {known!r}")
        HANDLERS[topic] = handler
        return handler

    return register


def enqueue(topic, payload, not_before=None):
    """Add an event to the outbox in the current transaction, to run once committed (and not
    before ``not_before``, naive UTC, when given); returns it (flushed later)."""
    if topic not in HANDLERS:
        raise ValueError(f"no handler for outbox topic {topic!r}")
    now = clock.now()
    event = OutboxEvent(
        topic=topic,
        payload=payload,
        state=PENDING,
        attempts=0,
        created_at=now,
        available_at=max(now, not_before) if not_before is not None else now,
    )
    db.session.add(event)
    db.session.info[ENQUEUED] = True
    return event
