"""Help requests, the assists that answer them, their event history, and the log of who was
shown their contact details."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, text, true
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import Mapped, mapped_column, relationship

from connect import clock
from connect.extensions import db
from connect.requests import state
from connect.requests.state import ACTIVE
from connect.spatial import PointColumnType

URGENCIES = ("normal", "urgent")
ASSIST_OUTCOMES = (
    "released",
    "expired",
    "helped",
    "confirmed",
    "cancelled",
    "hidden",
    "disputed",
)
# An assist that ended so proves its volunteer (new volunteers hold one claim until then).
PROVEN_OUTCOMES = ("helped", "confirmed")


# "status IN ('open', 'claimed')", as the migration made the index.
_ACTIVE_SQL = f"status IN ({', '.join(repr(status) for status in ACTIVE)})"


class HelpRequest(db.Model):
    __tablename__ = "help_requests"
    __table_args__ = (
        Index("ix_help_requests_status_expires", "status", "expires_at"),
        Index("ix_help_requests_status_lease", "status", "lease_expires_at"),
        Index("ix_help_requests_status_created", "status", "created_at"),
        # Only requests not yet purged: the purge's daily scan stays as small as the live
        # and recently closed requests, however many purged ones pile up (migration 0007).
        Index(
            "ix_help_requests_unpurged",
            "status",
            sqlite_where=text("purged_at IS NULL"),
            postgresql_where=text("purged_at IS NULL"),
        ),
        # One active request per phone: a second post is a duplicate, even when two race.
        Index(
            "uq_help_requests_active_phone",
            "phone",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    categories: Mapped[list] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(Text)
    household_size: Mapped[int]
    urgency: Mapped[str] = mapped_column(String(10), default="normal")
    location = mapped_column(PointColumnType(), nullable=False)
    public_location = mapped_column(PointColumnType(spatial_index=False), nullable=False)
    address: Mapped[str | None] = mapped_column(String(300))
    contact_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(10), default="open")
    source: Mapped[str] = mapped_column(String(16), default="api")
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    manage_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_activity_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    # Set when `flask connect purge` removed the personal data a set time after closing.
    purged_at: Mapped[datetime | None]
    # Set when a resident asked an offer for help: the request is matched to its offerer.
    # No foreign key: SQLite cannot add one to an existing table without rebuilding it (and
    # its SpatiaLite geometry); offers are closed, never deleted.
    offer_id: Mapped[int | None] = mapped_column(index=True)
    # The coordinator who entered a request for a caller (source "hotline"). No foreign key,
    # for the same reason as offer_id.
    entered_by_id: Mapped[int | None] = mapped_column(index=True)
    # Stamp of the transaction that last changed the row (see connect.changes): the
    # per-process read models catch up by reading rows stamped at or after their watermark.
    change_seq: Mapped[int] = mapped_column(BigInteger, index=True, default=0)
    # The language the requester posted in: the texts they get are in it.
    locale: Mapped[str | None] = mapped_column(String(8))
    # Texts about the request (its link, who is coming, "were you helped?"), unless refused.
    sms_updates: Mapped[bool] = mapped_column(default=True, server_default=true())
    # "exact" (a pin or a typed point) or "area" (a commune's point, from an SMS: shown as
    # approximate until a coordinator places it).
    location_precision: Mapped[str] = mapped_column(
        String(8), default="exact", server_default="exact"
    )

    events = relationship(
        "RequestEvent", back_populates="request", lazy="raise", order_by="RequestEvent.id"
    )

    # The state at a moment (connect.requests.state): on a request, or as SQL on the class.

    def state_at(self, now=None):
        """(status, expires_at) as users see them at now (default: the clock's now)."""
        return state.effective_state(
            self.status,
            self.lease_expires_at,
            self.expires_at,
            now or clock.now(),
            state.expiry_period(),
        )

    @hybrid_method
    def status_at(self, now=None):
        """The status users see at now: a lapsed lease open again, a stale request expired."""
        return self.state_at(now)[0]

    @status_at.expression
    def status_at(cls, now=None):
        return state.status_sql(
            cls.status,
            cls.lease_expires_at,
            cls.expires_at,
            now or clock.now(),
            state.expiry_period(),
        )

    @hybrid_method
    def is_open_at(self, now=None):
        return self.status_at(now) == "open"

    @is_open_at.expression
    def is_open_at(cls, now=None):
        return state.open_sql(
            cls.status,
            cls.lease_expires_at,
            cls.expires_at,
            now or clock.now(),
            state.expiry_period(),
        )

    @hybrid_method
    def is_claimed_at(self, now=None):
        """Whether a volunteer holds a claim whose lease still runs at now."""
        return self.status_at(now) == "claimed"

    @is_claimed_at.expression
    def is_claimed_at(cls, now=None):
        return state.claimed_sql(cls.status, cls.lease_expires_at, now or clock.now())

    @hybrid_method
    def lease_lapsed(self, now):
        """Stored as claimed, with a lease that has lapsed at now (apply_timeouts reopens it)."""
        return self.status == "claimed" and self.status_at(now) != "claimed"

    @lease_lapsed.expression
    def lease_lapsed(cls, now):
        return state.lapsed_sql(cls.status, cls.lease_expires_at, now)

    @hybrid_method
    def past_expiry(self, now):
        """Stored as open, past its expiry at now (apply_timeouts expires it)."""
        return self.status == "open" and self.status_at(now) == "expired"

    @past_expiry.expression
    def past_expiry(cls, now):
        return state.past_expiry_sql(cls.status, cls.expires_at, now)


class Assist(db.Model):
    __tablename__ = "assists"
    __table_args__ = (Index("ix_assists_volunteer_outcome", "volunteer_id", "outcome"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("help_requests.id"), index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime] = mapped_column(default=clock.now)
    lease_expires_at: Mapped[datetime]
    # None while the claim is held; then released, expired, helped, confirmed or cancelled.
    outcome: Mapped[str | None] = mapped_column(String(10))
    helped_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # When the volunteer was reminded that this claim's lease ends soon (once per claim).
    reminded_at: Mapped[datetime | None]


class RequestEvent(db.Model):
    __tablename__ = "request_events"
    __table_args__ = (
        Index("ix_request_events_to_status_created", "to_status", "created_at"),
        # A request's first claim/help/confirm for the console's statistics.
        Index("ix_request_events_request_to_status", "request_id", "to_status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("help_requests.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(10))
    to_status: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Who acted, in words that survive a purge of personal data: requester, volunteer,
    # coordinator, admin or system.
    actor_kind: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(String(200))
    assist_id: Mapped[int | None] = mapped_column(ForeignKey("assists.id"))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    request = relationship("HelpRequest", back_populates="events")


class ContactReveal(db.Model):
    """Who was shown whose contact details (name, phone, address, exact point), and when."""

    __tablename__ = "contact_reveals"
    __table_args__ = (Index("ix_contact_reveals_viewer_created", "viewer_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("help_requests.id", ondelete="CASCADE"), index=True
    )
    viewer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Why it was allowed: claimant, coordinator or admin.
    viewer_role: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(8))  # api or page
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class SmsLink(db.Model):
    """A short link to a request's page, sent by SMS to the number it was posted with: it
    shows the status and lets the holder cancel or confirm, and shows the requester's name,
    address and exact point only once the phone is proven (the number may be mistyped)."""

    __tablename__ = "sms_links"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("help_requests.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
