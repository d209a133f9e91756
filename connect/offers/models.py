"""Offers of help ("Tôi muốn giúp đỡ", "đi chợ gần nhà")."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from connect import clock
from connect.extensions import db
from connect.spatial import PointColumnType

OFFER_KINDS = ("volunteer", "group", "shop")
OFFER_STATUSES = ("open", "closed", "expired", "hidden")
REPORTABLE = ("open", "hidden")  # "Báo xấu" still counts: live, or hidden pending review


class Offer(db.Model):
    __tablename__ = "offers"
    __table_args__ = (Index("ix_offers_status_until", "status", "available_until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="volunteer")
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text)
    categories: Mapped[list] = mapped_column(JSON)
    # What and how much, in the offerer's words ("20 kg gạo", "đi chợ 2 lần/ngày").
    quantity: Mapped[str | None] = mapped_column(String(120))
    location = mapped_column(PointColumnType(), nullable=False)
    public_location = mapped_column(PointColumnType(spatial_index=False), nullable=False)
    address: Mapped[str | None] = mapped_column(String(300))
    contact_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(10), default="open")
    available_until: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    closed_at: Mapped[datetime | None]
