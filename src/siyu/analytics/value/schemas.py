"""API schemas of RFM and customer lifetime value. Money is integer fen; dates are brand-local days."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from siyu.analytics.engine import ORDER_EVENT

NO_NUL = r"^[^\x00]*$"  # text that reaches SQL or the database (NUL is refused by both)
Score = Annotated[int, Field(ge=1, le=5)]
# Days both engines hold (ClickHouse's Date ends in 2149).
Day = Annotated[date, Field(ge=date(1970, 1, 2), le=date(2149, 6, 1))]
EventName = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]


# -- RFM ----------------------------------------------------------------------------------------------------
class SegmentRule(BaseModel):
    """Members whose scores fall in all three ranges (both ends included). Rules are tried in order; the
    first that matches names the segment."""

    name: str = Field(min_length=1, max_length=100, pattern=NO_NUL)
    r: tuple[Score, Score] = (1, 5)
    f: tuple[Score, Score] = (1, 5)
    m: tuple[Score, Score] = (1, 5)

    @model_validator(mode="after")
    def _ranges(self) -> SegmentRule:
        for lo, hi in (self.r, self.f, self.m):
            if lo > hi:
                raise ValueError("a range's low end is above its high end")
        return self


class RfmQuery(BaseModel):
    as_of: Day | None = Field(default=None, description="Brand-local day the scores are taken on (default: "
                               "today); orders up to the end of it count.")
    window_days: int = Field(default=365, ge=1, le=3660, description="Orders of the last N days count.")
    segments: list[SegmentRule] | None = Field(default=None, max_length=100,
                                               description="Segment rules, in order (default: the named set).")
    event: EventName = Field(default=ORDER_EVENT, description="The event that is an order.")
    members: int = Field(default=0, ge=0, le=10_000, description="Also list up to N members' scores.")
    segment: str | None = Field(default=None, max_length=100, pattern=NO_NUL,
                                description="List only members of this segment.")


class SegmentSize(BaseModel):
    segment: str
    members: int
    share: float = Field(description="Of all scored members, 0-1.")
    recency_days_avg: float
    frequency_avg: float
    monetary_fen_avg: int
    monetary_fen: int = Field(description="The segment's total spend in the window.")


class RfmMember(BaseModel):
    person_id: str
    recency_days: int
    frequency: int
    monetary_fen: int
    r: int
    f: int
    m: int
    segment: str


class RfmReport(BaseModel):
    as_of: date
    window_days: int
    customers: int
    segments: list[SegmentSize]
    members: list[RfmMember]
    scoring: str


class MovementQuery(BaseModel):
    start: Day = Field(description="The earlier day.")
    end: Day = Field(description="The later day.")
    window_days: int = Field(default=365, ge=1, le=3660)
    segments: list[SegmentRule] | None = Field(default=None, max_length=100)
    event: EventName = ORDER_EVENT

    @model_validator(mode="after")
    def _order(self) -> MovementQuery:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class Transition(BaseModel):
    from_segment: str
    to_segment: str
    members: int


class Movement(BaseModel):
    start: date
    end: date
    window_days: int
    segments: list[str] = Field(description="Row and column order; '(none)' is not a customer in the window.")
    transitions: list[Transition]
    matrix: list[list[int]] = Field(description="matrix[i][j]: members in segments[i] at start and [j] at end.")


# -- lifetime value -----------------------------------------------------------------------------------------
class ClvQuery(BaseModel):
    until: Day | None = Field(default=None, description="End of the calibration period (brand-local day, "
                               "included; default today). Orders after it, if any, are the holdout.")
    since: Day | None = Field(default=None, description="Ignore orders before this day.")
    horizon_days: int = Field(default=365, ge=1, le=3650, description="Predict this far ahead.")
    discount_rate: float = Field(default=0.10, ge=0, le=10, description="Yearly discount rate of future value.")
    event: EventName = ORDER_EVENT
    members: int = Field(default=20, ge=0, le=100_000, description="List the N members of highest value.")


class BgNbdParams(BaseModel):
    """Time is in days: the purchase rate is Gamma(r, alpha) per day, the drop-out Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    converged: bool
    iterations: int
    gradient_norm: float
    standard_errors: dict[str, float | None] = Field(description="Asymptotic, from the inverse Hessian.")


class GammaGammaParams(BaseModel):
    p: float
    q: float
    gamma: float = Field(description="In fen (the unit of the amounts).")
    log_likelihood: float
    converged: bool
    iterations: int
    gradient_norm: float
    standard_errors: dict[str, float | None] = Field(description="Asymptotic, from the inverse Hessian.")
    customers: int = Field(description="Repeat buyers it was fitted on.")
    frequency_spend_correlation: float = Field(description="Pearson correlation of repeat purchases and average "
                                               "spend among repeat buyers; the model assumes near 0.")


class HoldoutRow(BaseModel):
    frequency: str = Field(description="Repeat purchases in calibration ('7+' for seven or more).")
    customers: int
    actual_avg: float
    predicted_avg: float


class Holdout(BaseModel):
    start: date
    end: date
    days: int
    actual: int = Field(description="Purchase days of calibration customers in the holdout.")
    predicted: float
    by_frequency: list[HoldoutRow]
    mean_absolute_error: float = Field(description="Per customer, purchases.")


class ClvMember(BaseModel):
    person_id: str
    frequency: int
    recency_days: int
    age_days: int = Field(description="T: days from the first purchase to the end of calibration.")
    average_spend_fen: int = Field(description="Mean of the repeat purchase days' spend (0 without repeats).")
    probability_alive: float
    expected_purchases: float
    expected_spend_fen: int
    expected_value_fen: int = Field(description="Discounted value of the horizon's expected purchases.")


class ClvReport(BaseModel):
    until: date
    horizon_days: int
    discount_rate: float
    customers: int
    repeat_customers: int
    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams
    expected_purchases: float = Field(description="All customers, over the horizon.")
    expected_value_fen: int = Field(description="All customers, over the horizon, discounted.")
    holdout: Holdout | None
    members: list[ClvMember]
