from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from siyu.sources.schemas import Channel


class LoginRequest(BaseModel):
    """What the brand's server verified (a WeChat login, an SMS code, its own account system)."""

    app_id: str | None = Field(default=None, max_length=128, description="The WeChat app id of the OpenID.")
    openid: str | None = Field(default=None, max_length=128)
    unionid: str | None = Field(default=None, max_length=128)
    phone: str | None = Field(default=None, max_length=32, description="Any common format; CN by default.")
    email: str | None = Field(default=None, max_length=200)
    user_id: str | None = Field(default=None, max_length=200, description="The brand's own account id.")
    anonymous_id: str | None = Field(default=None, max_length=200,
                                     description="The client's anonymous id, to join its history.")
    device_id: str | None = Field(default=None, max_length=200)
    channel: Channel = Channel.server
    traits: dict[str, Any] = Field(default_factory=dict)


class LoginResponse(BaseModel):
    person_id: str
    member_token: str = Field(description="A short-lived bearer token for this customer's own data.")
    expires_at: datetime
    merged: int = Field(description="Anonymous histories joined to this person by the login.")


class MergeRequest(BaseModel):
    into_person: str = Field(min_length=1, max_length=32)
    from_person: str = Field(min_length=1, max_length=32)
    reason: str = Field(min_length=1, max_length=500)


class UnmergeRequest(BaseModel):
    reason: str = Field(default="operator unmerge", min_length=1, max_length=500)


class MergeOut(BaseModel):
    id: str
    action: str
    into_person: str
    from_person: str
    identifiers: list[str]
    trigger: str
    reason: str | None
    actor: str | None
    message_id: str | None
    created_at: datetime
    undone_at: datetime | None
    undone_by: str | None


class ConflictOut(BaseModel):
    id: str
    reason: str
    person_id: str
    other_person_id: str | None
    identifier_kind: str
    identifier_value: str
    message_id: str | None
    created_at: datetime
    resolved_at: datetime | None


class ConflictPage(BaseModel):
    items: list[ConflictOut]
    next_cursor: str | None
