"""Bargain tables.

Race-proof by construction (see ``service.py``):
- a bargain's ``helpers`` and ``current_price_fen`` change by one conditional UPDATE (``status = 'open' AND
  helpers = <the count read under the row lock>``), the cut amount coming from the plan fixed at the start;
  CHECKs keep ``current_price_fen >= floor_price_fen`` and ``helpers <= helpers_needed``;
- one cut per helper per bargain: UNIQUE (bargain, helper), and UNIQUE (bargain, seq);
- a helper's cuts per day in a campaign take numbered slots, UNIQUE (campaign, helper, day, day_slot);
- a customer's bargains in a campaign take numbered slots, UNIQUE (campaign, initiator, slot);
- a bargain is used by one order: ``status 'reached' -> 'used'`` by a conditional UPDATE.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime


class BargainCampaign(Base):
    __tablename__ = "bargain_campaigns"
    __table_args__ = (
        CheckConstraint("floor_price_fen >= 0 AND floor_price_fen < start_price_fen", name="prices"),
        CheckConstraint("min_cut_fen >= 1 AND min_cut_fen <= max_cut_fen", name="cuts"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sku_id: Mapped[str] = mapped_column(String(32), index=True)
    channels: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [] = every channel
    start_price_fen: Mapped[int] = mapped_column(BigInteger)
    floor_price_fen: Mapped[int] = mapped_column(BigInteger)
    helpers_needed: Mapped[int] = mapped_column(Integer)
    min_cut_fen: Mapped[int] = mapped_column(BigInteger)
    max_cut_fen: Mapped[int] = mapped_column(BigInteger)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    per_member_limit: Mapped[int] = mapped_column(Integer, default=1)  # bargains per customer
    helper_daily_limit: Mapped[int] = mapped_column(Integer, default=3)  # cuts per helper per local day
    buy_before_floor: Mapped[bool] = mapped_column(Boolean, default=False)  # buy at the current price
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Bargain(Base):
    """open -> reached (the last required helper cut it to the floor) -> used (an order holds it; back to
    reached if that order is cancelled); open | reached -> expired."""

    __tablename__ = "bargains"
    __table_args__ = (
        UniqueConstraint("campaign_id", "initiator_person_id", "slot"),
        CheckConstraint("current_price_fen >= floor_price_fen", name="floor"),
        CheckConstraint("helpers >= 0 AND helpers <= helpers_needed", name="helpers"),
        Index("ix_bargains_status_expires", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(String(32))
    initiator_person_id: Mapped[str] = mapped_column(String(32), index=True)
    slot: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    start_price_fen: Mapped[int] = mapped_column(BigInteger)
    floor_price_fen: Mapped[int] = mapped_column(BigInteger)
    current_price_fen: Mapped[int] = mapped_column(BigInteger)
    helpers: Mapped[int] = mapped_column(Integer, default=0)
    helpers_needed: Mapped[int] = mapped_column(Integer)
    plan: Mapped[list[Any]] = mapped_column(JSON)  # the cut of each helper in turn (plan.py)
    seed: Mapped[int] = mapped_column(BigInteger)  # the plan's random seed, for the record
    status: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reached_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class BargainCut(Base):
    __tablename__ = "bargain_cuts"
    __table_args__ = (
        UniqueConstraint("bargain_id", "helper_person_id", name="uq_bargain_cuts_helper"),
        UniqueConstraint("bargain_id", "seq", name="uq_bargain_cuts_seq"),
        UniqueConstraint("campaign_id", "helper_person_id", "day", "day_slot", name="uq_bargain_cuts_day_slot"),
        CheckConstraint("amount_fen > 0", name="amount"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    bargain_id: Mapped[str] = mapped_column(String(32))
    campaign_id: Mapped[str] = mapped_column(String(32))
    helper_person_id: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)  # 1..helpers_needed
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    price_after_fen: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(16))  # where the helper cut (any channel)
    day: Mapped[str] = mapped_column(String(10))  # the helper's local day (Asia/Shanghai), for the daily cap
    day_slot: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
