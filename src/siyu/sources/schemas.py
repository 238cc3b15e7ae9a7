from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Channel(StrEnum):
    miniprogram = "miniprogram"
    web = "web"
    app = "app"
    server = "server"


class SourceCreate(BaseModel):
    channel: Channel
    name: str = Field(min_length=1, max_length=200)
    rate_limit: float | None = Field(
        default=None, ge=0, description="Events per second; omitted = deployment default; 0 = unlimited."
    )


class SourceUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    rate_limit: float | None = Field(default=None, ge=0)


class KeyOut(BaseModel):
    id: str
    kind: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None


class SourceOut(BaseModel):
    id: str
    name: str
    channel: Channel
    enabled: bool
    rate_limit: float | None
    created_at: datetime
    disabled_at: datetime | None
    keys: list[KeyOut]


class SourceCreated(SourceOut):
    write_key: str = Field(description="Shown once; only its hash is stored.")


class RotateRequest(BaseModel):
    grace_seconds: int = Field(
        default=0, ge=0, le=90 * 86400, description="How long the old write key keeps working."
    )


class KeyCreated(BaseModel):
    source_id: str
    kind: str
    key: str = Field(description="Shown once; only its hash is stored.")
    old_keys_expire_at: datetime | None = None
