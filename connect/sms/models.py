"""Text messages sent and received, the question each phone was last asked, opt-outs and codes."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from connect.extensions import db

OUT, IN = "out", "in"
# An outgoing message: queued (for the worker), waiting (quiet hours or over budget, sent
# later), sent (the gateway took it), delivered or undelivered (the gateway's report), failed
# (refused for good, or retries used up), fell_back (over budget: went to the inbox instead),
# opted_out (the number sent STOP). An incoming one: received.
QUEUED, WAITING, SENT, DELIVERED, UNDELIVERED = (
    "queued",
    "waiting",
    "sent",
    "delivered",
    "undelivered",
)
FAILED, FELL_BACK, OPTED_OUT, RECEIVED = "failed", "fell_back", "opted_out", "received"


class SmsMessage(db.Model):
    """One text to or from a phone; its body is erased with the request it belongs to."""

    __tablename__ = "sms_messages"
    __table_args__ = (
        # The per-number daily cap: what went to a number since local midnight.
        Index("ix_sms_messages_phone_sent", "phone", "sent_at"),
        # The global hourly budget: everything that went in the last hour (read per text).
        Index("ix_sms_messages_sent", "sent_at"),
        # The console's lists by status.
        Index("ix_sms_messages_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))
    phone: Mapped[str] = mapped_column(String(16))
    body: Mapped[str | None] = mapped_column(Text)
    # What it says (a renderer kind such as "posted" or "code"; "reply" for one received).
    kind: Mapped[str] = mapped_column(String(24))
    locale: Mapped[str | None] = mapped_column(String(8))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12))
    # Why it waits, fell back or failed (a short code or the gateway's words, never the body).
    reason: Mapped[str | None] = mapped_column(String(200))
    segments: Mapped[int] = mapped_column(SmallInteger, default=1)
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("help_requests.id", ondelete="SET NULL"), index=True
    )
    # A volunteer's or coordinator's message falls back to their inbox when over budget.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # For a notification that falls back: what the inbox shows instead (public fields only).
    fallback: Mapped[dict | None] = mapped_column(JSON)
    gateway: Mapped[str | None] = mapped_column(String(16))
    # The gateway's own id of a message received (Kannel's %I): a retried hand-over is kept once.
    gateway_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]
    not_before: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class SmsQuestion(db.Model):
    """A question the service asked a phone; a reply answers the newest one still open."""

    __tablename__ = "sms_questions"
    __table_args__ = (Index("ix_sms_questions_phone_open", "phone", "answered_at", "asked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(24))
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("help_requests.id", ondelete="CASCADE"), index=True
    )
    # What a conversation of several questions has gathered so far (feature-phone intake).
    state: Mapped[dict] = mapped_column(JSON, default=dict)
    asked_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]


class SmsOptOut(db.Model):
    """A number that sent STOP: it gets nothing but the codes it asks for."""

    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(String(16), primary_key=True)
    created_at: Mapped[datetime]


class PhoneCode(db.Model):
    """A one-time code sent by SMS (password reset, proving a phone, getting a link again)."""

    __tablename__ = "phone_codes"
    __table_args__ = (Index("ix_phone_codes_phone_purpose", "phone", "purpose", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(12))
    code_hash: Mapped[str] = mapped_column(String(128))
    tries: Mapped[int] = mapped_column(SmallInteger, default=0)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ProvenPhone(db.Model):
    """A phone shown to be in its holder's hands (a code, or any reply from it), and when."""

    __tablename__ = "proven_phones"

    phone: Mapped[str] = mapped_column(String(16), primary_key=True)
    proven_at: Mapped[datetime]
    how: Mapped[str] = mapped_column(String(8))  # code or reply
