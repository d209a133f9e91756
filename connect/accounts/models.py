"""Users and their API tokens."""
import hashlib
import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from connect import clock
from connect.extensions import db

ROLES = ("resident", "volunteer", "coordinator", "admin")
STAFF_ROLES = frozenset({"coordinator", "admin"})


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
