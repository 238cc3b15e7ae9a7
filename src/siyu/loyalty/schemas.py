from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from siyu.catalog.schemas import SaleChannel
from siyu.promotions.schemas import PromotionRef

MALL_PROMOTION = "points_mall"  # the order promotion kind that pays a points-plus-money redemption's cash part


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Benefits(Strict):
    discount_bp: int = Field(default=0, ge=0, le=5000, description="Order discount in basis points (500 = 5% off).")
    points_multiplier_bp: int = Field(default=10000, ge=0, le=100000, description="10000 = 1x points on spend.")
    free_shipping: bool = False
    priority_service: bool = False
    birthday_points: int = Field(default=0, ge=0, le=1_000_000)
    birthday_coupon_template_id: str | None = None


class TierIn(Strict):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_\-]+$")
    name: str = Field(min_length=1, max_length=50)
    threshold: int = Field(ge=0, description="Growth value in the evaluation period that reaches this tier.")
    benefits: Benefits = Field(default_factory=Benefits)


class Downgrade(StrEnum):
    never = "never"
    period_end = "period_end"
    one_step = "one_step"


class Period(Strict):
    kind: str = Field(default="calendar_year", pattern=r"^(calendar_year|rolling_days)$")
    days: int = Field(default=365, ge=7, le=3650, description="For rolling_days.")


class ActionRule(Strict):
    """What one action is worth, with a cap per member per local day (0: no cap)."""

    growth: int = Field(default=0, ge=0, le=100_000)
    points: int = Field(default=0, ge=0, le=1_000_000)
    daily_cap: int = Field(default=0, ge=0, le=1000, description="Rewarded actions per day; 0 = no cap.")


class Redemption(Strict):
    points_per_yuan: int = Field(default=100, ge=1, le=100_000, description="100: 100 points pay 1 yuan.")
    max_order_share_bp: int = Field(default=5000, ge=0, le=10000, description="At most this share of an order.")
    min_points: int = Field(default=100, ge=1)


class ProgramIn(Strict):
    tiers: list[TierIn] = Field(min_length=1, max_length=20)
    period: Period = Field(default_factory=Period)
    downgrade: Downgrade = Downgrade.one_step
    growth_per_yuan: int = Field(default=1, ge=0, le=1000)
    points_per_yuan: int = Field(default=1, ge=0, le=1000, description="Before the tier multiplier.")
    points_expiry_days: int = Field(default=365, ge=1, le=3650)
    signup_points: int = Field(default=100, ge=0)
    actions: dict[str, ActionRule] = Field(default_factory=dict, description="share, review, login, ...")
    events: dict[str, str] = Field(default_factory=dict, description="Tracked event name -> action.")
    checkin_cycle: list[int] = Field(default_factory=lambda: [5, 5, 10, 5, 5, 10, 30], min_length=1, max_length=31)
    checkin_growth: int = Field(default=1, ge=0)
    redemption: Redemption = Field(default_factory=Redemption)

    @model_validator(mode="after")
    def _ladder(self) -> ProgramIn:
        codes = [t.code for t in self.tiers]
        if len(set(codes)) != len(codes):
            raise ValueError("tier codes must be unique")
        thresholds = [t.threshold for t in self.tiers]
        if thresholds[0] != 0 or thresholds != sorted(thresholds) or len(set(thresholds)) != len(thresholds):
            raise ValueError("tiers go from threshold 0 upwards, each higher than the one before")
        for event, action in self.events.items():
            if action not in self.actions:
                raise ValueError(f"event {event!r} maps to {action!r}, which has no rule in actions")
        return self


def default_program() -> ProgramIn:
    return ProgramIn(
        tiers=[
            TierIn(code="regular", name="普通会员", threshold=0),
            TierIn(code="gold", name="黄金会员", threshold=1000,
                   benefits=Benefits(discount_bp=200, points_multiplier_bp=12000, birthday_points=200)),
            TierIn(code="diamond", name="钻石会员", threshold=5000,
                   benefits=Benefits(discount_bp=500, points_multiplier_bp=15000, free_shipping=True,
                                     priority_service=True, birthday_points=1000)),
        ],
        actions={"share": ActionRule(growth=2, points=5, daily_cap=3), "review": ActionRule(growth=10, points=20,
                                                                                              daily_cap=2),
                 "login": ActionRule(growth=1, points=0, daily_cap=1)},
        events={"Product Shared": "share", "Product Reviewed": "review", "Signed In": "login",
                "Application Opened": "login"},
    )


class ProgramOut(ProgramIn):
    period_started_at: datetime
    updated_at: datetime


class JoinRequest(Strict):
    channel: SaleChannel
    person_id: str | None = Field(default=None, max_length=32, description="Servers only: who joins.")
    consents: dict[str, bool] = Field(default_factory=dict, description='e.g. {"marketing": true, "sms": false}')
    birthday: date | None = None
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    referral_code: str | None = Field(default=None, max_length=32,
                                      description="An invite code: binds the new member to whoever invited them.")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown time zone") from exc
        return v


class TierView(BaseModel):
    code: str
    name: str
    threshold: int
    benefits: Benefits


class MemberOut(BaseModel):
    id: str
    person_id: str
    joined_at: datetime
    joined_channel: str
    consents: dict[str, Any]
    timezone: str
    birthday: date | None
    tier: TierView
    next_tier: TierView | None
    growth: int
    period_growth: int
    growth_to_next_tier: int | None
    points: int
    pending_points: int
    points_expiring_soon: int = Field(description="Points that expire within 30 days.")
    checked_in_today: bool
    streak: int


class SpendRequest(Strict):
    points: int = Field(gt=0, le=10**9)
    reason: str = Field(default="spend", min_length=1, max_length=300)
    channel: SaleChannel | None = None


class AdjustRequest(Strict):
    points: int = Field(ge=-(10**9), le=10**9, description="Positive grants, negative deducts; not zero.")
    reason: str = Field(min_length=1, max_length=300)

    @field_validator("points")
    @classmethod
    def _nonzero(cls, v: int) -> int:
        if v == 0:
            raise ValueError("points must not be zero")
        return v


class EntryOut(BaseModel):
    id: str
    kind: str
    delta: int
    pending_delta: int
    balance: int
    lot_id: str | None
    ref: str | None
    reason: str
    channel: str | None
    at: datetime


class LedgerPage(BaseModel):
    items: list[EntryOut]
    next_cursor: str | None


class CheckInRequest(Strict):
    channel: SaleChannel


class CheckInOut(BaseModel):
    day: date
    streak: int
    points: int
    cycle_day: int
    balance: int


class OrderPointsRequest(Strict):
    points: int = Field(gt=0, le=10**9)


class OrderPointsOut(BaseModel):
    order_id: str
    points: int
    discount_fen: int
    total_fen: int
    balance: int


class MallKind(StrEnum):
    goods = "goods"
    virtual = "virtual"
    coupon = "coupon"


class MallItemIn(Strict):
    title: str = Field(min_length=1, max_length=200)
    kind: MallKind = MallKind.virtual
    points: int = Field(gt=0, le=10**9)
    cash_fen: int = Field(default=0, ge=0, le=10**9,
                          description="Points plus money: the money part per unit, paid as an order of the SKU "
                                      "(goods with a SKU only).")
    stock: int | None = Field(default=None, ge=0, le=10**9, description="Omit for unlimited.")
    per_member_limit: int | None = Field(default=None, ge=1, le=10_000)
    min_tier: str | None = Field(default=None, max_length=32)
    sku_id: str | None = Field(default=None, max_length=32, description="Goods: the SKU the brand ships.")
    coupon_template_id: str | None = Field(default=None, max_length=32)


class MallItemUpdate(Strict):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    points: int | None = Field(default=None, gt=0, le=10**9)
    cash_fen: int | None = Field(default=None, ge=0, le=10**9)
    stock: int | None = Field(default=None, ge=0, le=10**9)
    per_member_limit: int | None = Field(default=None, ge=1, le=10_000)
    min_tier: str | None = Field(default=None, max_length=32)
    active: bool | None = None

    @field_validator("title", "points", "cash_fen", "active")
    @classmethod
    def _not_null(cls, v: Any) -> Any:
        if v is None:
            raise ValueError("cannot be null (omit it to keep the current value)")
        return v


class MallItemOut(BaseModel):
    id: str
    title: str
    kind: str
    points: int
    cash_fen: int
    stock: int | None
    per_member_limit: int | None
    min_tier: str | None
    sku_id: str | None
    coupon_template_id: str | None
    active: bool


class RedeemRequest(Strict):
    quantity: int = Field(default=1, ge=1, le=100)
    channel: SaleChannel


class RedemptionOut(BaseModel):
    id: str
    item_id: str | None
    order_id: str | None
    quantity: int
    points: int
    cash_fen: int = Field(description="Points plus money: the money part, paid as an order.")
    status: str = Field(description="awaiting_payment (points plus money, until its order is paid), completed "
                                    "or reversed (points and stock given back).")
    channel: str
    created_at: datetime
    expires_at: datetime | None = Field(description="awaiting_payment: order the money part before this.")
    promotion: PromotionRef | None = Field(
        default=None, description="awaiting_payment without an order: put this in the order's `promotion` (with "
                                  "the item's SKU and the quantity redeemed) to pay the money part.")


class Goal(Strict):
    action: str = Field(min_length=1, max_length=32, description="share, order, checkin, review, login, ...")
    channel: SaleChannel | None = Field(default=None, description="Only actions in this channel count.")
    count: int = Field(ge=1, le=1000)


class QuestIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    goals: list[Goal] = Field(min_length=1, max_length=10)
    window_days: int = Field(ge=1, le=366)
    reward_points: int = Field(ge=0, le=10**9)
    starts_at: datetime | None = None
    ends_at: datetime | None = None


class QuestOut(BaseModel):
    id: str
    name: str
    goals: list[dict[str, Any]]
    window_days: int
    reward_points: int
    starts_at: datetime | None
    ends_at: datetime | None
    active: bool


class QuestProgressOut(BaseModel):
    quest: QuestOut
    goals: list[dict[str, Any]]
    completed: bool
