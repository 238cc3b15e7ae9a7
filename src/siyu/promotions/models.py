"""Promotions: coupon templates and issued coupons (group-buy, bargain, referral, flash sale and links
live in their own modules' models, imported by ``siyu.models``).

Race-proof by construction:
- a template's ``issued`` count grows by a conditional UPDATE (``issued < total``): never over-issued;
- a member's coupons of one template take numbered slots (UNIQUE (template, person, slot), slot <=
  ``per_member_limit``): concurrent claims by one member cannot pass the limit;
- a coupon moves available -> locked -> redeemed by conditional UPDATEs on its status: one order wins it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime


class CouponTemplate(Base):
    __tablename__ = "coupon_templates"
    __table_args__ = (CheckConstraint("total IS NULL OR issued <= total", name="issued"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # fixed | percent | threshold | free_shipping
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # fixed, threshold (满减)
    percent_bp: Mapped[int] = mapped_column(Integer, default=0)  # percent: 1000 = 10% off
    threshold_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # minimum eligible amount
    max_discount_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    valid_days: Mapped[int | None] = mapped_column(Integer, nullable=True)  # N days after issue instead
    channels: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [] = every channel
    tiers: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [] = every tier (and non-members)
    new_members_only: Mapped[bool] = mapped_column(Boolean, default=False)  # no paid order before
    sku_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [] = the whole order
    per_member_limit: Mapped[int] = mapped_column(Integer, default=1)
    total: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: unlimited
    issued: Mapped[int] = mapped_column(Integer, default=0)
    stacking_group: Mapped[str] = mapped_column(String(32), default="default")  # one coupon per group
    claimable: Mapped[bool] = mapped_column(Boolean, default=True)  # members may claim it themselves
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Coupon(Base):
    __tablename__ = "coupons"
    __table_args__ = (
        UniqueConstraint("template_id", "person_id", "slot"),
        Index("ix_coupons_person_status", "person_id", "status"),
        Index("ix_coupons_locked_order", "locked_order_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    template_id: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[str] = mapped_column(String(32))
    slot: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # available | locked | redeemed | void
    source: Mapped[str] = mapped_column(String(32))  # claim | grant | mall | referral | birthday | ...
    source_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    channel: Mapped[str | None] = mapped_column(String(16), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_order_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    redeemed_order_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    discount_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # what it took off, when used


class PriceSchedule(Base):
    """Time-based prices: from ``starts_at`` (until the next entry) a SKU costs ``price_fen`` in a channel
    (early-bird prices, presale stages). The latest entry that has started wins over the listing price."""

    __tablename__ = "price_schedules"
    __table_args__ = (Index("ix_price_schedules_sku_channel_start", "sku_id", "channel", "starts_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sku_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    price_fen: Mapped[int] = mapped_column(BigInteger)
    label: Mapped[str] = mapped_column(String(100), default="")


class EarlyAccess(Base):
    """Presale early access: members of ``tier`` (or higher) may buy in ``channel`` from ``opens_at``,
    before the listing's ``available_from`` (e.g. APP diamond members four hours early)."""

    __tablename__ = "early_access"
    __table_args__ = (UniqueConstraint("sku_id", "channel", "tier"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sku_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str] = mapped_column(String(32))
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
