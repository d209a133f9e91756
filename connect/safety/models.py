"""Abuse reports, flags for coordinators, and blocked phones."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from connect import clock
from connect.extensions import db

REPORT_REASONS = ("joke", "advertising", "scam", "false", "other")
REPORT_SUBJECTS = ("request", "offer")
REPORT_RESOLUTIONS = ("upheld", "dismissed")
# possible_duplicate: a look-alike from another phone; disputed: the requester answered by SMS
# that they were not helped after the claimant marked it helped.
FLAG_KINDS = ("possible_duplicate", "disputed")


class Report(db.Model):
    """ "Báo xấu": one account reports one request or offer once."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint(
            "subject_type", "subject_id", "reporter_id", name="uq_reports_subject_reporter"
        ),
        Index("ix_reports_subject_open", "subject_type", "subject_id", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(10))
    subject_id: Mapped[int]
    reporter_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(String(12))
    comment: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # upheld (the subject stays hidden) or dismissed (it was fine).
    resolution: Mapped[str | None] = mapped_column(String(10))


class RequestFlag(db.Model):
    """Something for coordinators to look at, e.g. a possible duplicate from another phone."""

    __tablename__ = "request_flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("help_requests.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(24))
    related_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("help_requests.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    resolved_at: Mapped[datetime | None] = mapped_column(index=True)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class BlockedPhone(db.Model):
    """A phone number that may not post requests, with who blocked it, why, and any lifting."""

    __tablename__ = "blocked_phones"
    __table_args__ = (
        # At most one block in force per phone; lifted ones stay as history.
        Index(
            "uq_blocked_phones_active",
            "phone",
            unique=True,
            sqlite_where=text("lifted_at IS NULL"),
            postgresql_where=text("lifted_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(16), index=True)
    # The request the block was made from: it scopes who may see and lift the block.
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("help_requests.id", ondelete="SET NULL"), index=True
    )
    reason: Mapped[str] = mapped_column(String(200))
    blocked_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    lifted_at: Mapped[datetime | None]
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lift_reason: Mapped[str | None] = mapped_column(String(200))
