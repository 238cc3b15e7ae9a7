from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class IdentifierOut(BaseModel):
    kind: str
    value: str


class ChannelOut(BaseModel):
    channel: str
    first_seen: datetime
    last_seen: datetime


class CountersOut(BaseModel):
    """Kept by the profiles consumer from order events: paid orders, what they paid and what was refunded."""

    orders: int = 0
    revenue_fen: int = 0
    refunded_fen: int = 0
    last_order_at: datetime | None = None


class PersonOut(BaseModel):
    id: str
    identifiers: list[IdentifierOut]
    channels: list[ChannelOut]
    traits: dict[str, Any]
    counters: CountersOut
    created_at: datetime
    merged_from: list[str] = Field(description="Person ids merged into this one (still valid as aliases).")


class TraitChangeOut(BaseModel):
    key: str
    value: Any
    observed_at: datetime
    message_id: str
    identifier: IdentifierOut


class TimelineEvent(BaseModel):
    message_id: str
    source_id: str
    channel: str
    type: str
    event: str | None
    timestamp: datetime
    anonymous_id: str | None
    user_id: str | None
    properties: Any
    context: Any


class TimelinePage(BaseModel):
    items: list[TimelineEvent]
    next_cursor: str | None = Field(description="Pass as `before` for the next (older) page.")
