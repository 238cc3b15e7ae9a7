"""Cross-channel links: a short code that opens a target in another channel, with its campaign labels.

A link is written once by an operator (or by the referral programme for an invite) and read on every
open; opens are not counted here but written to the event store as touches (``service.record_open``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime


class ChannelLink(Base):
    __tablename__ = "channel_links"
    __table_args__ = (Index("ix_channel_links_created", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(24))  # web_to_miniprogram | miniprogram_to_app | to_web
    name: Mapped[str] = mapped_column(String(200), default="")
    target_url: Mapped[str] = mapped_column(String(2000))
    page_path: Mapped[str | None] = mapped_column(String(512), nullable=True)  # mini-program page
    scene: Mapped[str | None] = mapped_column(String(32), nullable=True)  # mini-program code scene value
    source_channel: Mapped[str] = mapped_column(String(16))  # web | miniprogram | app | any
    utm_source: Mapped[str | None] = mapped_column(String(100), nullable=True)
    utm_medium: Mapped[str | None] = mapped_column(String(100), nullable=True)
    utm_campaign: Mapped[str | None] = mapped_column(String(100), nullable=True)
    utm_term: Mapped[str | None] = mapped_column(String(100), nullable=True)
    utm_content: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
