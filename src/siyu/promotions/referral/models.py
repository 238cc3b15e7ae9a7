"""Referral: invite codes, who invited whom, the rewards given, and the hash-chained reward ledger.

Race-proof by construction:
- one code per person (UNIQUE ``person_id``) and one referral per invitee (UNIQUE ``invitee_person_id``):
  concurrent requests insert with ON CONFLICT DO NOTHING and read back the winner;
- a reward is keyed (referral, trigger, ref, beneficiary) UNIQUE: a redelivered event grants nothing twice;
- every grant first locks the ledger head (one row): grants, their ledger entries and the caps' counts
  are serialised, so entries get gapless sequence numbers and no chain forks (see ``ledger.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime


class ReferralProgram(Base):
    """One row: the operator's configuration (JSON validated by ``schemas.ProgramIn``)."""

    __tablename__ = "referral_program"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InviteCode(Base):
    __tablename__ = "referral_codes"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32), unique=True)
    link_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # its invite link, if any
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Referral(Base):
    __tablename__ = "referrals"
    __table_args__ = (Index("ix_referrals_referrer", "referrer_person_id", "bound_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(16))
    referrer_person_id: Mapped[str] = mapped_column(String(32))
    invitee_person_id: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # active | void
    void_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    first_order_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReferralReward(Base):
    __tablename__ = "referral_rewards"
    __table_args__ = (
        UniqueConstraint("referral_id", "trigger", "ref", "beneficiary"),
        Index("ix_referral_rewards_person", "person_id", "beneficiary", "at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    referral_id: Mapped[str] = mapped_column(String(32))
    trigger: Mapped[str] = mapped_column(String(16))  # signup | first_purchase | every_purchase
    ref: Mapped[str] = mapped_column(String(64))  # "signup" or the order id
    beneficiary: Mapped[str] = mapped_column(String(16))  # referrer | invitee
    person_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # pending | granted | capped | nothing
    points: Mapped[int] = mapped_column(Integer, default=0)
    coupon_template_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    coupon_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    source_event: Mapped[str] = mapped_column(String(64))
    ledger_seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class LedgerEntry(Base):
    """Append-only: ``hash = SHA-256(prev_hash "\\n" payload "\\n" seq)``; ``payload`` is canonical JSON."""

    __tablename__ = "referral_ledger"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class LedgerHead(Base):
    """One row, the checkpoint: the newest entry's (seq, hash), moved in the transaction of each append.
    Appenders lock it, which serialises appends; verify compares the chain's end with it."""

    __tablename__ = "referral_ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
