"""Volunteer profiles: where they are, how far they go, what they can bring."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from connect import clock
from connect.extensions import db
from connect.spatial import PointColumnType


class Volunteer(db.Model):
    __tablename__ = "volunteers"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    location = mapped_column(PointColumnType(), nullable=False)
    radius_m: Mapped[int]
    categories: Mapped[list] = mapped_column(JSON)
    on_duty: Mapped[bool] = mapped_column(default=False)
    capacity: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

    user = relationship("User", lazy="select")
