"""API schemas of KPIs, retention and paths (funnels: :mod:`.funnel_schemas`)."""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator

from siyu.analytics.behaviour.filters import PropertyFilter
from siyu.analytics.behaviour.funnel_schemas import Duration, EventName, Span, check_day

# -- KPIs -------------------------------------------------------------------------------------------------


class KpiQuery(Span):
    compare: bool = Field(default=True, description="Also the previous period of the same length")
    by_channel: bool = Field(default=False, description="Also each channel on its own")
    as_of: date | None = Field(default=None, description="Day retention can be seen up to (default: today, "
                               "brand-local)")

    @model_validator(mode="after")
    def _previous(self) -> KpiQuery:
        check_day(self.as_of)
        check_day(self.start - (self.end - self.start) - timedelta(days=31))  # the previous period and MAU
        return self


class Retained(BaseModel):
    retained: int
    eligible: int = Field(description="New users whose day N is not after as_of")
    rate: float | None


class KpiValues(BaseModel):
    new_users: int
    active_users: int
    dau_avg: float | None = Field(description="Average daily active users over the period")
    dau: int = Field(description="Active users on the period's last day")
    wau: int = Field(description="Active users in the 7 days ending on the period's last day")
    mau: int = Field(description="Active users in the 30 days ending on the period's last day")
    new_members: int
    orders: int
    gmv_fen: int
    aov_fen: int | None
    buyers: int
    conversion: float | None = Field(description="Buyers / active users")
    sharers: int
    share_rate: float | None = Field(description="Persons who shared / active users")
    repeat_buyers: int
    repurchase_rate: float | None = Field(description="Buyers with 2+ orders in the period / buyers")
    retention_d1: Retained
    retention_d7: Retained
    retention_d30: Retained


class KpiSet(BaseModel):
    channel: str | None = Field(description="null: the channels asked for (all when none)")
    current: KpiValues
    previous: KpiValues | None = None
    delta: dict[str, float | None] = Field(default_factory=dict, description="current - previous")
    change: dict[str, float | None] = Field(default_factory=dict, description="(current - previous) / previous")


class KpiReport(BaseModel):
    start: date
    end: date
    previous_start: date | None
    previous_end: date | None
    channels: list[str]
    overall: KpiSet
    by_channel: list[KpiSet] = Field(default_factory=list)


# -- retention --------------------------------------------------------------------------------------------


class Unit(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class CohortMode(StrEnum):
    first_time = "first_time"  # a person's cohort is the period of their first start event ever
    recurring = "recurring"  # a person belongs to every period in which they did the start event


class RetentionQuery(Span):
    """Cohorts whose period starts on a day from ``start`` to ``end`` (brand-local)."""

    unit: Unit = Unit.week
    periods: int = Field(default=12, ge=1, le=400, description="Follow each cohort this many periods")
    start_event: EventName | None = Field(default=None, description="Default: any event")
    start_filters: list[PropertyFilter] = Field(default_factory=list, max_length=20)
    return_event: EventName | None = Field(default=None, description="Default: any event")
    return_filters: list[PropertyFilter] = Field(default_factory=list, max_length=20)
    mode: CohortMode = CohortMode.first_time
    by_channel: bool = Field(default=False, description="Break cohorts down by acquisition channel (the "
                             "channel of the person's first event)")
    revenue: bool = Field(default=True, description="Cumulative Order Completed revenue per cohort (LTV)")
    as_of: date | None = Field(default=None, description="Periods after this day are not shown (default: "
                               "today, brand-local)")

    @model_validator(mode="after")
    def _as_of(self) -> RetentionQuery:
        check_day(self.as_of)
        return self


class Cohort(BaseModel):
    cohort: date
    channel: str | None = None
    size: int
    returned: list[int | None] = Field(description="Persons returning in period 0, 1, ... (null: not over)")
    rates: list[float | None]
    revenue_fen: list[int | None] = Field(default_factory=list, description="Cumulative revenue up to each "
                                          "period")
    ltv_fen: list[float | None] = Field(default_factory=list, description="Cumulative revenue per person")


class RetentionResult(BaseModel):
    unit: Unit
    mode: CohortMode
    periods: int
    cohorts: list[Cohort]


# -- paths ------------------------------------------------------------------------------------------------


class Direction(StrEnum):
    next = "next"
    previous = "previous"


class PathsQuery(Span):
    event: EventName
    filters: list[PropertyFilter] = Field(default_factory=list, max_length=20)
    direction: Direction = Direction.next
    depth: int = Field(default=1, ge=1, le=5, description="How many events after (or before)")
    top: int = Field(default=20, ge=1, le=500)
    by_channel: bool = Field(default=True, description="Label events with their channel "
                             "(miniprogram:Product Viewed -> app:Order Completed)")
    include_pages: bool = Field(default=False, description="Count page and screen views as events too")
    within: Duration = Field(default="1d", description="A next (previous) event further away than this ends "
                             "the path")

    @model_validator(mode="after")
    def _span(self) -> PathsQuery:
        if (self.end - self.start).days > 400:
            raise ValueError("paths look at most 400 days at a time")
        return self


class PathRow(BaseModel):
    path: list[str] = Field(description="The chosen event first, then the next (or previous) ones; '(end)' "
                            "when the path stops")
    occurrences: int
    persons: int
    share: float | None = Field(description="Of all occurrences of the chosen event")


class ChannelMove(BaseModel):
    from_channel: str
    to_channel: str
    occurrences: int


class PathsResult(BaseModel):
    event: str
    direction: Direction
    occurrences: int
    persons: int
    paths: list[PathRow]
    cross_channel: int = Field(description="Occurrences whose next (previous) event is on another channel")
    channel_moves: list[ChannelMove]
