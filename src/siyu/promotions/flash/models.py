"""Flash sales (秒杀): a session sells ``quota`` units of one SKU at ``price_fen`` between ``starts_at`` and
``ends_at``, at most ``per_member_limit`` units per customer; an attempt reserves units for
``reservation_ttl_s`` seconds.

A reservation's life (``FlashReservation.status``; every change is one conditional UPDATE on the expected
old status, so two concurrent changes cannot both win):

    reserved -> ordered (an order claimed it) -> sold (the order was paid)
        |            \\-> released (the order was cancelled or timed out)      sold -> released (paid order
        \\-> expired (not ordered in time)                                             cancelled before shipping)
    void: a tombstone the Redis reconciler writes for a reservation Redis gave out but whose row never
    reached the database (the row's late insert then collides with it and fails)

The invariant, at every moment: units sold + units held (reserved, ordered) + remaining quota == quota.
``remaining`` and ``flash_holdings`` are the counters of the database store (``counter == "db"``); with the
Redis store the live counters are in Redis and these rows are the record Redis is reconciled with.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime

LIVE = ("reserved", "ordered")  # held: counted against the quota, may still come back
TAKEN = ("reserved", "ordered", "sold")  # everything counted against the quota


class FlashSession(Base):
    __tablename__ = "flash_sessions"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= quota", name="remaining"),
        CheckConstraint("quota > 0 AND per_member_limit > 0 AND reservation_ttl_s > 0", name="positive"),
        Index("ix_flash_sessions_ends_at", "ends_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sku_id: Mapped[str] = mapped_column(String(32), index=True)
    channels: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [] = every channel
    price_fen: Mapped[int] = mapped_column(BigInteger)
    quota: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)  # the database store's counter
    per_member_limit: Mapped[int] = mapped_column(Integer, default=1)
    reservation_ttl_s: Mapped[int] = mapped_column(Integer, default=300)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    counter: Mapped[str] = mapped_column(String(8))  # db | redis: the store that keeps the live counters
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FlashReservation(Base):
    __tablename__ = "flash_reservations"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        Index("ix_flash_reservations_session_status", "session_id", "status"),
        Index("ix_flash_reservations_status_expires", "status", "expires_at"),
        Index("ix_flash_reservations_session_person", "session_id", "person_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(Integer)
    # reserved | ordered | sold | expired | released | void
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    order_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # sold or returned


class FlashHolding(Base):
    """Units a customer holds in a session (database store): grown by ``units + n <= limit``."""

    __tablename__ = "flash_holdings"
    __table_args__ = (CheckConstraint("units >= 0", name="units"),)

    session_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    units: Mapped[int] = mapped_column(Integer, default=0)
