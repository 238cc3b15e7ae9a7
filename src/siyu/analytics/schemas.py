"""Schemas shared by every analysis: the period asked about and the channel filter."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator


class Channel(StrEnum):
    miniprogram = "miniprogram"
    web = "web"
    app = "app"
    server = "server"


class Period(BaseModel):
    """Brand-local dates, both included."""

    start: date
    end: date
    channels: list[Channel] = Field(default_factory=list, description="Only these channels (all when empty).")

    @model_validator(mode="after")
    def _order(self) -> Period:
        if self.end < self.start:
            raise ValueError("end is before start")
        if (self.end - self.start).days > 3660:
            raise ValueError("at most ten years at a time")
        return self
