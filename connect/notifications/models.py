"""Notifications: what push matching, lease reminders and coordinators tell a volunteer."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from connect import clock
from connect.extensions import db

NOTIFICATION_KINDS = (
    "new_request",
    "lease_reminder",
    "lease_expired",
    "assigned",
    "request_withdrawn",
)


class Notification(db.Model):
    """One message in a user's in-app inbox (also what other channels deliver)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_id_id", "user_id", "id"),
        Index("ix_notifications_user_kind_created", "user_id", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("help_requests.id", ondelete="CASCADE"), index=True
    )
    # What the inbox shows, without personal data of the requester (public fields only).
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    read_at: Mapped[datetime | None]
