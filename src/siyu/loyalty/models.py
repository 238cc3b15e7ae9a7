"""Membership and loyalty: members, the tier ladder and programme rules, growth value, points as lots
with a ledger, daily check-ins, the points mall and quests.

Invariants kept by the database itself:
- ``members.points >= 0`` and ``point_lots.remaining`` between 0 and ``amount`` (CHECK constraints);
- one check-in per member per local day, one reward per (member, idempotency key), one quest reward per
  member (UNIQUE constraints).
Every points operation starts with a conditional UPDATE of the member's row (see ``points.py``): that row
is the lock that orders all of one member's points operations, on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Date, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (
        CheckConstraint("points >= 0", name="points"),
        CheckConstraint("pending_points >= 0", name="pending"),
        Index("ix_members_tier_growth", "tier", "period_growth"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32), unique=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    joined_channel: Mapped[str] = mapped_column(String(16))
    consents: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"marketing": true, "sms": false, ...}
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    birthday: Mapped[date | None] = mapped_column(Date, nullable=True)
    tier: Mapped[str] = mapped_column(String(32))
    tier_since: Mapped[datetime] = mapped_column(UTCDateTime())
    growth: Mapped[int] = mapped_column(BigInteger, default=0)  # growth value earned ever (never spent)
    period_growth: Mapped[int] = mapped_column(BigInteger, default=0)  # in the current evaluation period
    points: Mapped[int] = mapped_column(BigInteger, default=0)  # = sum of available lots' remaining
    pending_points: Mapped[int] = mapped_column(BigInteger, default=0)  # = sum of pending lots' remaining
    last_birthday_gift_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Program(Base):
    """One row: the operator's configuration of the programme (JSON validated by ``schemas.ProgramIn``)."""

    __tablename__ = "loyalty_program"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    period_started_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the current evaluation period
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PointLot(Base):
    """Points earned together, with their own expiry; spending takes the lots that expire first."""

    __tablename__ = "point_lots"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining"),
        Index("ix_point_lots_member_status_expiry", "member_id", "status", "expires_at"),
        Index("ix_point_lots_status_available", "status", "available_at"),
        Index("ix_point_lots_source", "source_kind", "source_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # pending | available | expired | cancelled
    source_kind: Mapped[str] = mapped_column(String(24))  # order | checkin | event | signup | adjust | ...
    source_id: Mapped[str] = mapped_column(String(128))
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    available_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # pending: when known
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PointEntry(Base):
    """The ledger: every change of a member's available points, signed; the sum is the balance. Pending
    points are recorded with their own column (``pending_delta``) so both balances are auditable."""

    __tablename__ = "point_ledger"
    __table_args__ = (UniqueConstraint("member_id", "key"), Index("ix_point_ledger_member_at", "member_id", "at"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))  # idempotency: one entry per (member, key)
    kind: Mapped[str] = mapped_column(String(24))
    delta: Mapped[int] = mapped_column(BigInteger)  # change of available points
    pending_delta: Mapped[int] = mapped_column(BigInteger, default=0)
    balance: Mapped[int] = mapped_column(BigInteger)  # available points after this entry
    lot_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ref: Mapped[str | None] = mapped_column(String(128), nullable=True)  # order id, redemption id, ...
    reason: Mapped[str] = mapped_column(String(300), default="")
    channel: Mapped[str | None] = mapped_column(String(16), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class SpendPart(Base):
    """Which lots a spend took from (so a cancelled redemption gives back exactly those points)."""

    __tablename__ = "point_spend_parts"

    entry_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    lot_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)


class GrowthEntry(Base):
    __tablename__ = "growth_ledger"
    __table_args__ = (UniqueConstraint("member_id", "key"), Index("ix_growth_ledger_member_day", "member_id", "day"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(24))  # spend | login | share | review | refund | adjust
    delta: Mapped[int] = mapped_column(BigInteger)
    day: Mapped[date] = mapped_column(Date)  # the member's local day (daily caps)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class CheckIn(Base):
    __tablename__ = "checkins"

    member_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # the member's local day
    streak: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class TierChange(Base):
    __tablename__ = "tier_changes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32), index=True)
    from_tier: Mapped[str] = mapped_column(String(32))
    to_tier: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(32))  # upgrade | period_end | adjust
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class MallItem(Base):
    __tablename__ = "mall_items"
    __table_args__ = (CheckConstraint("stock IS NULL OR stock >= 0", name="stock"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # goods | virtual | coupon
    points: Mapped[int] = mapped_column(BigInteger)
    cash_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # points plus money (goods: paid as an order)
    sku_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # goods: what is shipped
    coupon_template_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    stock: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: unlimited
    per_member_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    min_tier: Mapped[str | None] = mapped_column(String(32), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Redemption(Base):
    """Points spent on an order or a mall item. A points-plus-money item waits (``awaiting_payment``, its points
    spent and its stock held) for an order that pays its cash part, until ``expires_at`` (see ``mall_orders.py``)."""

    __tablename__ = "redemptions"
    __table_args__ = (Index("ix_redemptions_member_item", "member_id", "item_id"),
                      Index("ix_redemptions_status_expires", "status", "expires_at"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # None: points paid on an order
    order_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(BigInteger)
    cash_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16))  # awaiting_payment | completed | reversed
    channel: Mapped[str] = mapped_column(String(16))
    entry_id: Mapped[str] = mapped_column(String(32))  # the ledger entry that spent the points
    # points given back already (an order's partial refunds); a reversal gives back the rest
    points_returned: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # order the cash part by then


class Quest(Base):
    __tablename__ = "quests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    goals: Mapped[list[Any]] = mapped_column(JSON)  # [{"action", "channel", "count"}]
    window_days: Mapped[int] = mapped_column(Integer)
    reward_points: Mapped[int] = mapped_column(BigInteger)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class QuestAction(Base):
    """One counted action towards quests (idempotent per source event)."""

    __tablename__ = "quest_actions"
    __table_args__ = (UniqueConstraint("member_id", "key"), Index("ix_quest_actions_member_at", "member_id", "at"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))  # share | order | checkin | review | ...
    channel: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class QuestCompletion(Base):
    __tablename__ = "quest_completions"

    quest_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    entry_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
