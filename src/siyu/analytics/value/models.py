"""Acquisition spend: what was paid for a channel (and optionally one campaign) over a period of days."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime


class AcquisitionSpend(Base):
    """One amount for (channel, campaign, start .. end). ``campaign`` is '' for the channel as a whole (so the
    natural key is unique without NULLs); days are brand-local and ``end_date`` is included."""

    __tablename__ = "acquisition_spend"
    __table_args__ = (
        UniqueConstraint("channel", "campaign", "start_date", "end_date"),
        CheckConstraint("amount_fen >= 0", name="amount"),
        CheckConstraint("end_date >= start_date", name="period"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64))
    campaign: Mapped[str] = mapped_column(String(200), default="")
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
