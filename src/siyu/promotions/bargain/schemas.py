from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from siyu.catalog.schemas import SaleChannel
from siyu.promotions.bargain.plan import feasible

MAX_FEN = 10**12


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CampaignIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    sku_id: str = Field(max_length=32)
    channels: list[SaleChannel] = Field(default_factory=list, description="Where bargains start and are bought "
                                        "(all if empty); helpers may cut from any channel.")
    start_price_fen: int | None = Field(default=None, ge=1, le=MAX_FEN,
                                        description="The price before any cut (the lowest listing price if not given).")
    floor_price_fen: int = Field(ge=0, le=MAX_FEN, description="The price the last required helper lands on.")
    helpers_needed: int = Field(ge=1, le=100, description="Helpers (distinct people) to reach the floor.")
    min_cut_fen: int = Field(ge=1, le=MAX_FEN)
    max_cut_fen: int = Field(ge=1, le=MAX_FEN)
    duration_minutes: int = Field(ge=1, le=60 * 24 * 30, description="How long a bargain stays open.")
    per_member_limit: int = Field(default=1, ge=1, le=100, description="Bargains one customer may start.")
    helper_daily_limit: int = Field(default=3, ge=1, le=1000, description="Cuts one helper may make per day "
                                    "in this campaign (Asia/Shanghai days).")
    buy_before_floor: bool = Field(default=False, description="The initiator may buy at the current price "
                                   "before the floor is reached.")
    starts_at: AwareDatetime | None = Field(default=None, description="Now if not given.")
    ends_at: AwareDatetime | None = Field(default=None, description="No new bargains start after this.")

    @model_validator(mode="after")
    def _shape(self) -> CampaignIn:
        if self.min_cut_fen > self.max_cut_fen:
            raise ValueError("min_cut_fen must be at most max_cut_fen")
        if self.start_price_fen is not None and not feasible(self.start_price_fen - self.floor_price_fen,
                                                              self.helpers_needed, self.min_cut_fen, self.max_cut_fen):
            raise ValueError("helpers_needed cuts within [min_cut_fen, max_cut_fen] must add up to "
                             "start_price_fen - floor_price_fen")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class CampaignOut(BaseModel):
    id: str
    name: str
    sku_id: str
    channels: list[str]
    start_price_fen: int
    floor_price_fen: int
    helpers_needed: int
    min_cut_fen: int
    max_cut_fen: int
    duration_minutes: int
    per_member_limit: int
    helper_daily_limit: int
    buy_before_floor: bool
    starts_at: datetime
    ends_at: datetime | None
    active: bool
    created_at: datetime


class StartIn(Strict):
    channel: SaleChannel
    person_id: str | None = Field(default=None, max_length=32, description="Servers: who starts it.")


class CutIn(Strict):
    channel: SaleChannel = Field(description="Where the helper is (any channel).")
    person_id: str | None = Field(default=None, max_length=32, description="Servers: who helps.")


class CutOut(BaseModel):
    seq: int
    helper_person_id: str
    amount_fen: int
    price_after_fen: int
    channel: str
    created_at: datetime


class BargainOut(BaseModel):
    id: str
    campaign_id: str
    sku_id: str
    initiator_person_id: str
    channel: str
    status: str = Field(description="open | reached (at the floor) | used (an order holds it) | expired")
    start_price_fen: int
    floor_price_fen: int
    current_price_fen: int
    helpers: int
    helpers_needed: int
    helpers_left: int
    expires_at: datetime
    created_at: datetime
    reached_at: datetime | None
    order_id: str | None
    cuts: list[CutOut]


class CutResult(BaseModel):
    cut: CutOut
    bargain: BargainOut
