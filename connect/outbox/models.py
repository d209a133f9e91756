"""The outbox table: work a change causes, written in the change's own transaction."""

from datetime import datetime

from sqlalchemy import JSON, Index, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from connect.extensions import db

PENDING, DONE, FAILED = "pending", "done", "failed"


class OutboxEvent(db.Model):
    """One event of a change (a post, a lapsed lease, a message to send) for the worker."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The worker's scan: pending events that are due, oldest first.
        Index("ix_outbox_state_available", "state", "available_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(8), default=PENDING)
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    created_at: Mapped[datetime]
    # Not taken before this time: the backoff after a failed attempt.
    available_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
