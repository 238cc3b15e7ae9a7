"""API schemas of attribution, channel economics and acquisition spend. Money is integer fen."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

from siyu.analytics.engine import ORDER_EVENT
from siyu.analytics.value.schemas import NO_NUL, Day, EventName


class Model(StrEnum):
    first = "first"
    last = "last"
    last_non_direct = "last_non_direct"
    linear = "linear"
    time_decay = "time_decay"
    position = "position"
    markov = "markov"


class Level(StrEnum):
    channel = "channel"
    source = "source"
    campaign = "campaign"


class Window(BaseModel):
    start: Day = Field(description="First brand-local day (conversions from it on).")
    end: Day = Field(description="Last brand-local day, included.")

    @model_validator(mode="after")
    def _order(self) -> Window:
        if self.end < self.start:
            raise ValueError("end is before start")
        if (self.end - self.start).days > 3660:
            raise ValueError("at most ten years at a time")
        return self


class AttributionQuery(Window):
    model: Model = Model.last_non_direct
    group_by: Level = Field(default=Level.channel, description="Credit channels, (channel, source) or "
                            "(channel, source, campaign); Markov chain states are the same keys.")
    lookback_days: int = Field(default=30, ge=1, le=365, description="Touches this long before a conversion "
                               "count.")
    half_life_days: float = Field(default=7.0, gt=0, le=365, description="time_decay: a touch this much older "
                                  "gets half the credit.")
    first_share: float = Field(default=0.4, ge=0, le=1, description="position: the first touch's share.")
    last_share: float = Field(default=0.4, ge=0, le=1, description="position: the last touch's share.")
    event: EventName = Field(default=ORDER_EVENT, description="The conversion event; revenue is its total_fen.")

    @model_validator(mode="after")
    def _shares(self) -> AttributionQuery:
        if self.first_share + self.last_share > 1:
            raise ValueError("first_share + last_share is more than 1")
        return self


class AttributionRow(BaseModel):
    channel: str
    source: str | None = None
    campaign: str | None = None
    conversions: float = Field(description="Credited conversions (fractions for multi-touch models).")
    revenue_fen: int
    share: float = Field(description="Of all conversions, 0-1.")
    removal_effect: float | None = Field(default=None, description="markov: the drop in conversion probability "
                                         "without this state, 0-1.")


class AttributionReport(BaseModel):
    model: Model
    group_by: Level
    start: date
    end: date
    lookback_days: int
    conversions: int
    revenue_fen: int
    paths: int = Field(description="Distinct converting paths.")
    rows: list[AttributionRow]


# -- acquisition spend ----------------------------------------------------------------------------------------
class SpendIn(BaseModel):
    channel: str = Field(min_length=1, max_length=64, pattern=NO_NUL,
                         description="An attribution channel, e.g. paid_search.")
    campaign: str | None = Field(default=None, max_length=200, pattern=NO_NUL, description="None: the whole channel.")
    start: Day
    end: Day = Field(description="Included.")
    amount_fen: int = Field(ge=0, le=10**15)
    currency: str = Field(default="CNY", min_length=3, max_length=3, pattern="^[A-Z]{3}$")
    note: str = Field(default="", max_length=500, pattern=NO_NUL)

    @model_validator(mode="after")
    def _order(self) -> SpendIn:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class SpendOut(SpendIn):
    id: str
    created_at: datetime
    updated_at: datetime


class SpendPage(BaseModel):
    items: list[SpendOut]
    next_cursor: str | None


class SpendImport(BaseModel):
    rows: int
    created: int
    updated: int


# -- channel economics ------------------------------------------------------------------------------------------
class EconomicsQuery(Window):
    as_of: Day | None = Field(default=None, description="Behaviour is observed up to this day (default: today).")
    group_by: Level = Field(default=Level.channel, description="channel, or campaign (channel and campaign of "
                            "the acquiring touch).")
    lookback_days: int = Field(default=30, ge=1, le=365)
    retention_days: int = Field(default=30, ge=1, le=365)
    repurchase_days: int = Field(default=90, ge=1, le=3650)
    currency: str = Field(default="CNY", pattern="^[A-Z]{3}$", description="Spend in this currency counts.")
    ltv: str = Field(default="realised", pattern="^(realised|predicted)$",
                     description="realised: revenue to as_of; predicted: that plus the lifetime-value model's "
                     "expected value over ltv_horizon_days.")
    ltv_horizon_days: int = Field(default=365, ge=1, le=3650)
    event: EventName = ORDER_EVENT

    @model_validator(mode="after")
    def _level(self) -> EconomicsQuery:
        if self.group_by is Level.source:
            raise ValueError("group_by is channel or campaign (spend is entered per channel and campaign)")
        return self


class EconomicsRow(BaseModel):
    channel: str
    source: str | None = None
    campaign: str | None = None
    spend_fen: int
    visitors: int = Field(description="Persons whose first touch ever was in the period, here.")
    converted_visitors: int
    conversion_rate: float | None
    new_customers: int = Field(description="Persons whose first order was in the period, acquired here.")
    cac_fen: int | None
    retention_rate: float | None = Field(description="Active again 1..retention_days after the first order.")
    retention_eligible: int
    repurchase_rate: float | None = Field(description="A second order day within repurchase_days.")
    repurchase_eligible: int
    revenue_fen: int = Field(description="New customers' orders from the first to as_of.")
    ltv_fen: int | None
    ltv_cac: float | None


class EconomicsReport(BaseModel):
    start: date
    end: date
    as_of: date
    group_by: Level
    ltv: str
    currency: str
    rows: list[EconomicsRow]
