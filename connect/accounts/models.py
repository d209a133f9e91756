"""Users, their API tokens, and volunteer profiles (where they are, how far they go)."""

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from connect import clock
from connect.extensions import db
from connect.spatial import PointColumnType

ROLES = ("resident", "volunteer", "coordinator", "admin")
STAFF_ROLES = frozenset({"coordinator", "admin"})
# The farthest a volunteer may choose to travel (their profile's radius_m).
MAX_RADIUS_M = 50_000


def hash_secret(token):
    """SHA-256 of a high-entropy secret; such tokens need no slow hash, only no plaintext."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret():
    """A 256-bit random URL-safe secret."""
    return secrets.token_urlsafe(32)


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="resident")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)

    tokens = relationship("ApiToken", back_populates="user", lazy="raise")

    @property
    def is_staff(self):
        return self.role in STAFF_ROLES


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    user = relationship("User", back_populates="tokens", lazy="joined")


class Volunteer(db.Model):
    """A volunteer profile: where they are, how far they go, what they can bring."""

    __tablename__ = "volunteers"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    location = mapped_column(PointColumnType(), nullable=False)
    radius_m: Mapped[int]
    categories: Mapped[list] = mapped_column(JSON)
    on_duty: Mapped[bool] = mapped_column(default=False)
    capacity: Mapped[int] = mapped_column(default=1)
    # Texts (SMS) for "a coordinator gave you a need" and "your time is nearly up": off
    # unless the volunteer turns them on (a text costs the service and wakes a phone).
    sms_alerts: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

    user = relationship("User", lazy="select")
