"""The scheduler's tables: each job's next run and who holds it, and a record of every run."""

from datetime import datetime

from sqlalchemy import Boolean, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from connect.extensions import db


class ScheduledJob(db.Model):
    """One job: when it runs next, and the scheduler holding it while it runs (a row lease)."""

    __tablename__ = "scheduled_jobs"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    next_run_at: Mapped[datetime]
    locked_by: Mapped[str | None] = mapped_column(String(120))
    locked_until: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class JobRun(db.Model):
    """One run of a job: which occurrence, by whom, how it ended and what it did."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_scheduled", "job", "scheduled_for"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(40))
    scheduled_for: Mapped[datetime]
    runner: Mapped[str] = mapped_column(String(120))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    ok: Mapped[bool | None] = mapped_column(Boolean)
    summary: Mapped[str | None] = mapped_column(Text)
