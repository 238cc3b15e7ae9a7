"""Group-buy tables, and the share links of group-buy and bargain pages.

Race-proof by construction (see ``seats.py``):
- a group's ``seats_paid`` grows by one conditional UPDATE (``status = 'forming' AND seats_paid < size AND
  expires_at > paid_at``) made while holding the group's row lock, and a CHECK keeps ``seats_paid <= size``;
- a seated member holds a seat number, UNIQUE per group (two members can never hold one seat);
- a member's seats across the groups of a rule take numbered slots, UNIQUE (rule, person, slot), slot <=
  ``per_member_limit``: concurrent payments by one customer cannot pass the limit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime


class GroupBuyRule(Base):
    __tablename__ = "group_buy_rules"
    __table_args__ = (CheckConstraint("size >= 2", name="size"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sku_id: Mapped[str] = mapped_column(String(32), index=True)
    channels: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [] = every channel
    group_price_fen: Mapped[int] = mapped_column(BigInteger)
    leader_price_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # 团长价, if any
    size: Mapped[int] = mapped_column(Integer)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    per_member_limit: Mapped[int] = mapped_column(Integer, default=1)  # seats per person across the rule
    max_quantity: Mapped[int] = mapped_column(Integer, default=1)  # units per order at the group price
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class GroupBuyGroup(Base):
    """One group: opening (the leader's order is unpaid) -> forming (the leader paid) -> succeeded (full) |
    failed (expired before it filled; every paid member refunded)."""

    __tablename__ = "group_buy_groups"
    __table_args__ = (
        CheckConstraint("seats_paid >= 0 AND seats_paid <= size", name="seats"),
        Index("ix_group_buy_groups_status_expires", "status", "expires_at"),
        Index("ix_group_buy_groups_rule_status", "rule_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(32))
    leader_person_id: Mapped[str] = mapped_column(String(32), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # where the leader opened it
    status: Mapped[str] = mapped_column(String(16))  # opening | forming | succeeded | failed
    size: Mapped[int] = mapped_column(Integer)
    seats_paid: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # the leader paid
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # succeeded or failed


class GroupBuyMember(Base):
    """One order in a group. pending (unpaid) -> seated (paid, holds a seat) | refused (paid too late: the
    order was cancelled and refunded) | cancelled (the unpaid order was cancelled); seated -> refunded (the
    group failed) | left (the order was cancelled while the group was forming) | refund_blocked (the group
    failed but the order was already shipped: an operator must refund it)."""

    __tablename__ = "group_buy_members"
    __table_args__ = (
        UniqueConstraint("group_id", "seat"),
        UniqueConstraint("rule_id", "person_id", "slot"),
        Index("ix_group_buy_members_person", "person_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(32), index=True)
    rule_id: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[str] = mapped_column(String(32), unique=True)
    person_id: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(8))  # leader | member
    status: Mapped[str] = mapped_column(String(16))
    seat: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 1..size while seated
    slot: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 1..per_member_limit while seated
    channel: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)  # why refused / refunded
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PromotionShare(Base):
    """A share link of a promotion page (a group to join, a bargain to help): who shared it, from which
    channel, with which UTM tags. Opening it is recorded as a tracked event carrying all of these."""

    __tablename__ = "promotion_shares"
    __table_args__ = (UniqueConstraint("kind", "target_id", "sharer_person_id", "channel", "utm_source",
                                       "utm_medium", "utm_campaign"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # group_buy | bargain
    target_id: Mapped[str] = mapped_column(String(32))
    sharer_person_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    utm_source: Mapped[str] = mapped_column(String(100), default="")
    utm_medium: Mapped[str] = mapped_column(String(100), default="")
    utm_campaign: Mapped[str] = mapped_column(String(100), default="")
    opens: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
