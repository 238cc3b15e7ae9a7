from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Role(StrEnum):
    admin = "admin"


class TokenCreate(BaseModel):
    role: Role = Role.admin
    name: str = Field(default="operator", min_length=1, max_length=200)


class TokenCreated(BaseModel):
    id: str
    role: Role
    name: str
    token: str = Field(description="Shown once; only its hash is stored.")


class TokenOut(BaseModel):
    id: str
    role: Role
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
