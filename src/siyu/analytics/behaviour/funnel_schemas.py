"""Funnel definitions and answers (API and CLI, ``--definition FILE.json`` takes a :class:`FunnelQuery`)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, model_validator

from siyu.analytics.behaviour.filters import PropertyFilter
from siyu.analytics.behaviour.sql import parse_duration
from siyu.analytics.schemas import Period


def _duration(value: str | int) -> str | int:
    parse_duration(value)
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    return value


FIRST_DAY, LAST_DAY = date(1971, 1, 1), date(2200, 12, 31)


def check_day(day: date | None) -> None:
    if day is not None and not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"days are from {FIRST_DAY} to {LAST_DAY}")


Duration = Annotated[str | int, AfterValidator(_duration)]
Text = Annotated[str, AfterValidator(_no_nul)]
EventName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_nul)]


class Span(Period):
    """A period of days the event stores (and the previous period of a comparison) can hold."""

    @model_validator(mode="after")
    def _days(self) -> Span:
        check_day(self.start)
        check_day(self.end)
        return self


class FunnelOrder(StrEnum):
    ordered = "ordered"  # steps in this order, other events between allowed
    strict = "strict"  # steps in this order with no other named event between
    unordered = "unordered"  # steps in any order


class Breakdown(StrEnum):
    channel = "channel"
    utm_source = "utm_source"
    utm_medium = "utm_medium"
    utm_campaign = "utm_campaign"
    utm_content = "utm_content"
    utm_term = "utm_term"
    scene = "scene"


class Attribution(StrEnum):
    first_touch = "first_touch"  # the person's first value (acquisition)
    last_touch = "last_touch"  # the latest value at or before the last step they reached


class FunnelStep(BaseModel):
    event: EventName
    filters: list[PropertyFilter] = Field(default_factory=list, max_length=20)
    label: Text | None = Field(default=None, max_length=200)
    optional: bool = Field(default=False, description="May be skipped; counted when it happens between the "
                           "required steps around it.")
    window: Duration | None = Field(default=None, description="At most this long after the previous required "
                                    "step (on top of the funnel's window), e.g. '1h'.")


class Exclusion(BaseModel):
    """An event that, happening between two required steps, disqualifies that conversion."""

    event: EventName
    filters: list[PropertyFilter] = Field(default_factory=list, max_length=20)
    after_step: int = Field(default=1, ge=1, description="1-based index of a required step")
    before_step: int | None = Field(default=None, ge=2, description="1-based index of a later required step "
                                    "(default: the last step)")


class FunnelQuery(Span):
    steps: list[FunnelStep] = Field(min_length=2, max_length=10)
    order: FunnelOrder = FunnelOrder.ordered
    window: Duration = Field(default="7d", description="From the first step, e.g. '30m', '12h', '7d', '2w'.")
    exclusions: list[Exclusion] = Field(default_factory=list, max_length=10)
    breakdown: Breakdown | None = None
    attribution: Attribution = Attribution.first_touch

    @model_validator(mode="after")
    def _shape(self) -> FunnelQuery:
        if self.steps[0].optional:
            raise ValueError("the first step cannot be optional")
        if self.steps[-1].optional:
            raise ValueError("the last step cannot be optional")
        n = len(self.steps)
        for x in self.exclusions:
            before = x.before_step or n
            if not (x.after_step < before <= n):
                raise ValueError("an exclusion sits between two steps of the funnel (after_step < before_step)")
            if self.steps[x.after_step - 1].optional or self.steps[before - 1].optional:
                raise ValueError("an exclusion sits between required steps")
        if self.order is not FunnelOrder.ordered:
            if any(s.optional for s in self.steps):
                raise ValueError(f"optional steps are for ordered funnels, not {self.order.value}")
            if self.exclusions and self.order is FunnelOrder.strict:
                raise ValueError("a strict funnel allows no other event between steps: exclusions do not apply")
        if self.order is FunnelOrder.unordered and (self.exclusions or any(s.window for s in self.steps)):
            raise ValueError("unordered funnels take one window and no exclusions")
        return self


class FunnelStepOut(BaseModel):
    index: int
    event: str
    label: str
    optional: bool
    persons: int
    conversion_from_first: float | None
    conversion_from_previous: float | None
    dropped: int = Field(description="Persons at the previous required step who did not reach this one")
    avg_seconds_from_previous: float | None
    median_seconds_from_previous: float | None
    avg_seconds_from_first: float | None
    median_seconds_from_first: float | None


class FunnelGroup(BaseModel):
    value: str | None = Field(description="The breakdown value (null: persons without one)")
    steps: list[FunnelStepOut]


class FunnelResult(BaseModel):
    start: str
    end: str
    order: FunnelOrder
    window_seconds: int
    steps: list[FunnelStepOut]
    breakdown: Breakdown | None = None
    attribution: Attribution | None = None
    groups: list[FunnelGroup] = Field(default_factory=list, description="Per breakdown value, largest first")


class PersonStatus(StrEnum):
    reached = "reached"  # reached this step (and maybe further)
    dropped = "dropped"  # reached this step and no further required step


class FunnelPersonsQuery(BaseModel):
    funnel: FunnelQuery
    step: int = Field(ge=1, description="1-based")
    status: PersonStatus = PersonStatus.reached
    breakdown_value: Text | None = Field(default=None, max_length=1000,
                                         description="Only persons of this breakdown value")
    after: Text | None = Field(default=None, max_length=1000,
                               description="Cursor: the last person id of the previous page")
    limit: int = Field(default=100, ge=1, le=10_000)


class PersonPage(BaseModel):
    items: list[str]
    next_cursor: str | None
