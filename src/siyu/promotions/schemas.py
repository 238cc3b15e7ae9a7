from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from siyu.catalog.schemas import SaleChannel


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CouponKind(StrEnum):
    fixed = "fixed"  # amount_fen off (above threshold_fen, if any)
    percent = "percent"  # percent_bp off, at most max_discount_fen
    threshold = "threshold"  # 满减: amount_fen off once the eligible amount reaches threshold_fen
    free_shipping = "free_shipping"


class TemplateIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: CouponKind
    amount_fen: int = Field(default=0, ge=0, le=10**9)
    percent_bp: int = Field(default=0, ge=0, le=10000)
    threshold_fen: int = Field(default=0, ge=0, le=10**10)
    max_discount_fen: int | None = Field(default=None, ge=1)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    valid_days: int | None = Field(default=None, ge=1, le=3650, description="Good for N days after issue.")
    channels: list[SaleChannel] = Field(default_factory=list, description="Only in these channels (all if empty).")
    tiers: list[str] = Field(default_factory=list, description="Only for members of these tiers (all if empty).")
    new_members_only: bool = False
    sku_ids: list[str] = Field(default_factory=list, description="Only these SKUs' amount (the order if empty).")
    per_member_limit: int = Field(default=1, ge=1, le=1000)
    total: int | None = Field(default=None, ge=0, le=10**9, description="How many may ever be issued.")
    stacking_group: str = Field(default="default", min_length=1, max_length=32,
                                description="At most one coupon of a group per order.")
    claimable: bool = True

    @model_validator(mode="after")
    def _shape(self) -> TemplateIn:
        if self.kind in (CouponKind.fixed, CouponKind.threshold) and self.amount_fen <= 0:
            raise ValueError("fixed and threshold coupons need amount_fen")
        if self.kind is CouponKind.threshold and self.threshold_fen <= 0:
            raise ValueError("a threshold coupon (满减) needs threshold_fen")
        if self.kind is CouponKind.percent and not 0 < self.percent_bp < 10000:
            raise ValueError("a percent coupon needs percent_bp between 1 and 9999")
        if self.valid_days is None and self.valid_until is None:
            raise ValueError("give valid_until or valid_days")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class TemplateOut(TemplateIn):
    id: str
    issued: int
    active: bool
    created_at: datetime


class ClaimRequest(Strict):
    channel: SaleChannel


class GrantRequest(Strict):
    person_id: str = Field(max_length=32)
    reason: str = Field(default="grant", max_length=64)


class GrantManyRequest(Strict):
    person_ids: list[str] = Field(min_length=1, max_length=1000,
                                  description="One coupon each (a person named twice gets two). All or none.")
    reason: str = Field(default="grant", max_length=64)


class CouponOut(BaseModel):
    id: str
    template_id: str
    name: str
    kind: str
    person_id: str
    status: str
    source: str
    issued_at: datetime
    valid_from: datetime
    valid_until: datetime
    locked_order_id: str | None
    redeemed_order_id: str | None
    discount_fen: int | None


class CartLineIn(Strict):
    sku_id: str | None = Field(default=None, max_length=32)
    sku_code: str | None = Field(default=None, max_length=100)
    quantity: int = Field(ge=1, le=999)

    @model_validator(mode="after")
    def _sku(self) -> CartLineIn:
        if (self.sku_id is None) == (self.sku_code is None):
            raise ValueError("give exactly one of sku_id and sku_code")
        return self


class PromotionRef(Strict):
    """A special price this cart claims: a flash-sale reservation or a group-buy."""

    kind: str = Field(pattern=r"^[a-z_]{1,32}$")
    id: str = Field(min_length=1, max_length=64)


class QuoteRequest(Strict):
    channel: SaleChannel
    person_id: str | None = Field(default=None, max_length=32, description="Servers: whose cart.")
    lines: list[CartLineIn] = Field(min_length=1, max_length=100)
    coupons: list[str] = Field(default_factory=list, max_length=10)
    points: int = Field(default=0, ge=0, le=10**9)
    promotion: PromotionRef | None = None
    pickup: bool = False
    at: datetime | None = Field(default=None, description="Price the cart at another time (operators).")


class AdjustmentOut(BaseModel):
    kind: str
    ref: str | None
    amount_fen: int
    sku_id: str | None = None


class QuotedLine(BaseModel):
    sku_id: str
    sku_code: str
    title: str
    quantity: int
    list_unit_fen: int
    unit_price_fen: int
    subtotal_fen: int
    discount_fen: int
    total_fen: int
    points_fen: int = Field(default=0, description="Its share of the points discount (paid with points; not "
                            "taken off total_fen).")
    price_source: str


class RejectedCoupon(BaseModel):
    coupon_id: str
    code: str
    message: str


class QuoteOut(BaseModel):
    channel: str
    currency: str
    lines: list[QuotedLine]
    subtotal_fen: int
    tier_discount_fen: int
    coupon_discount_fen: int
    points: int
    points_discount_fen: int
    shipping_fen: int
    total_fen: int
    coupons_applied: list[str]
    coupons_rejected: list[RejectedCoupon]
    adjustments: list[AdjustmentOut]
    details: dict[str, Any] = Field(default_factory=dict)


class ScheduleIn(Strict):
    sku_id: str = Field(max_length=32)
    channel: SaleChannel
    starts_at: datetime
    ends_at: datetime | None = None
    price_fen: int = Field(ge=0, le=10**12)
    label: str = Field(default="", max_length=100, description="e.g. 早鸟价")


class ScheduleOut(ScheduleIn):
    id: str


class EarlyAccessIn(Strict):
    sku_id: str = Field(max_length=32)
    channel: SaleChannel
    tier: str = Field(max_length=32)
    opens_at: datetime


class EarlyAccessOut(EarlyAccessIn):
    id: str
