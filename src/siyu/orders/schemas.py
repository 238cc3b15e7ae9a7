from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from siyu.catalog.schemas import SaleChannel
from siyu.identity.kinds import Kind
from siyu.promotions.schemas import PromotionRef


class Fulfilment(StrEnum):
    delivery = "delivery"
    pickup = "pickup"


class Status(StrEnum):
    pending_payment = "pending_payment"
    paid = "paid"
    fulfilling = "fulfilling"
    shipped = "shipped"
    ready_for_pickup = "ready_for_pickup"
    completed = "completed"
    cancelled = "cancelled"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerRef(Strict):
    """Whose order: a person id, or any identifier (a person is made for an identifier not seen before)."""

    person_id: str | None = Field(default=None, max_length=32)
    kind: Kind | None = None
    value: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _one(self) -> CustomerRef:
        if (self.person_id is None) == (self.kind is None or self.value is None):
            raise ValueError("give person_id, or kind and value")
        return self


class LineIn(Strict):
    sku_id: str | None = Field(default=None, max_length=32)
    sku_code: str | None = Field(default=None, max_length=100)
    quantity: int = Field(ge=1, le=999)
    # Declared only to be refused with a clear error: prices come from the channel listing.
    unit_price_fen: int | None = Field(default=None, description="Not accepted; present only to be refused.")
    price: Any = Field(default=None, description="Not accepted; present only to be refused.")

    @model_validator(mode="after")
    def _sku(self) -> LineIn:
        if (self.sku_id is None) == (self.sku_code is None):
            raise ValueError("give exactly one of sku_id and sku_code")
        return self


class Address(Strict):
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=5, max_length=32)
    province: str = Field(default="", max_length=50)
    city: str = Field(default="", max_length=50)
    district: str = Field(default="", max_length=50)
    line: str = Field(min_length=1, max_length=300)
    postal_code: str = Field(default="", max_length=16)


class OrderCreate(Strict):
    channel: SaleChannel
    customer: CustomerRef | None = Field(default=None, description="Brand servers and operators only; a member "
                                         "token orders for its own customer.")
    lines: list[LineIn] = Field(min_length=1, max_length=100)
    fulfilment: Fulfilment = Fulfilment.delivery
    address: Address | None = None
    pickup_location_id: str | None = Field(default=None, max_length=32)
    note: str = Field(default="", max_length=500)
    coupons: list[str] = Field(default_factory=list, max_length=10, description="Coupon ids to use.")
    promotion: PromotionRef | None = Field(default=None, description="A flash-sale reservation or a group-buy.")
    points: int = Field(default=0, ge=0, le=10**9, description="Points to pay part of the order with, as the "
                        "pricing engine's dry run shows (clamped to the programme's cap; spent at once).")
    total_fen: Any = Field(default=None, description="Not accepted; present only to be refused.")


class LineOut(BaseModel):
    id: str
    sku_id: str | None
    sku_code: str
    product_id: str | None
    title: str
    quantity: int
    unit_price_fen: int
    total_fen: int
    discount_fen: int
    points_fen: int = Field(default=0, description="Its share of what points paid (not in discount_fen).")
    location_id: str | None
    refunded_quantity: int
    cancelled_quantity: int = Field(description="Units taken off before they shipped (refunded then, or the "
                                    "order cancelled): back in stock, not shipped.")

    @computed_field(  # type: ignore[prop-decorator]
        description="What the line ships (or shipped): quantity - cancelled_quantity.")
    @property
    def ship_quantity(self) -> int:
        return self.quantity - self.cancelled_quantity


class PaymentOut(BaseModel):
    id: str
    provider: str
    provider_ref: str
    amount_fen: int
    currency: str
    status: str
    created_at: datetime
    settled_at: datetime | None


class RefundOut(BaseModel):
    id: str
    payment_id: str
    amount_fen: int
    reason: str
    status: str
    provider_ref: str | None = Field(description="A refund the provider made on its own: its id there.")
    return_id: str | None
    lines: list[dict[str, Any]]
    created_at: datetime
    settled_at: datetime | None


class ShipmentOut(BaseModel):
    id: str
    carrier: str
    tracking_number: str
    status: str
    events: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


class OrderOut(BaseModel):
    id: str
    person_id: str
    channel: str
    status: Status
    fulfilment: Fulfilment
    pickup_location_id: str | None
    pickup_code: str | None = Field(description="Shown to the customer; checked at the store.")
    address: dict[str, Any] | None
    currency: str
    subtotal_fen: int
    discount_fen: int
    points_discount_fen: int = Field(description="The part of discount_fen paid with points.")
    shipping_fen: int
    total_fen: int
    paid_fen: int
    refunded_fen: int
    note: str
    reserve_expires_at: datetime | None
    promotion_kind: str | None
    promotion_id: str | None
    coupons: list[str] = Field(default_factory=list, description="Coupons this order holds or used.")
    created_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    return_deadline: datetime | None
    lines: list[LineOut]
    payments: list[PaymentOut]
    refunds: list[RefundOut]
    shipments: list[ShipmentOut]


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


class CancelRequest(Strict):
    reason: str = Field(default="customer", max_length=64)


class PaymentCreate(Strict):
    provider: str = Field(default="manual", max_length=32)
    reference: str | None = Field(default=None, max_length=128, description="Manual: a receipt or transfer number.")


class WebhookData(BaseModel):
    payment_ref: str | None = Field(default=None, max_length=128, description="Payment events: which payment.")
    amount_fen: int | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, max_length=3)
    refund_id: str | None = Field(default=None, max_length=32, description="Refund events: Siyu's refund id.")
    refund_ref: str | None = Field(default=None, min_length=1, max_length=128,
                                   description="payment.refunded: the provider's own id of the refund.")


class WebhookEvent(BaseModel):
    id: str = Field(min_length=1, max_length=128)
    type: str = Field(pattern=r"^(payment\.(succeeded|failed|refunded)|refund\.(succeeded|failed))$")
    data: WebhookData

    @model_validator(mode="after")
    def _refunded(self) -> WebhookEvent:
        d = self.data
        if self.type == "payment.refunded" and (d.payment_ref is None or d.refund_ref is None or not d.amount_fen):
            raise ValueError("payment.refunded needs data.payment_ref, data.refund_ref and a positive data.amount_fen")
        return self


class RefundCreate(Strict):
    amount_fen: int | None = Field(default=None, gt=0, description="Omit with lines to refund those lines.")
    lines: list[ReturnLine] = Field(default_factory=list, max_length=100)
    reason: str = Field(default="operator", min_length=1, max_length=64)


class ShipmentCreate(Strict):
    carrier: str = Field(min_length=1, max_length=64)
    tracking_number: str = Field(min_length=1, max_length=64)


class ShipmentUpdate(Strict):
    status: str = Field(pattern=r"^(in_transit|out_for_delivery|delivered)$")
    note: str = Field(default="", max_length=300)


class PickupVerify(Strict):
    code: str = Field(pattern=r"^\d{6}$")


class StorePickup(Strict):
    location_id: str = Field(max_length=32)
    code: str = Field(pattern=r"^\d{6}$")


class ReturnLine(Strict):
    line_id: str = Field(max_length=32)
    quantity: int = Field(ge=1, le=999)


class ReturnKind(StrEnum):
    refund_only = "refund_only"
    return_ = "return"


class ReturnCreate(Strict):
    kind: ReturnKind = ReturnKind.return_
    lines: list[ReturnLine] = Field(min_length=1, max_length=100)
    reason: str = Field(default="", max_length=500)
    channel: SaleChannel | None = Field(default=None, description="Where the customer asked (any channel).")


class ReturnDecision(Strict):
    approve: bool
    note: str = Field(default="", max_length=500)


class ReturnOut(BaseModel):
    id: str
    order_id: str
    person_id: str
    channel: str
    kind: str
    status: str
    reason: str
    lines: list[dict[str, Any]]
    amount_fen: int
    decision_note: str | None
    refund_id: str | None
    created_at: datetime
    decided_at: datetime | None
    received_at: datetime | None


class PolicyIn(Strict):
    return_window_days: int = Field(default=7, ge=0, le=365)
    returns_need_reason: bool = False
    unpaid_timeout_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    auto_complete_days: int = Field(default=10, ge=1, le=90)
    pickup_max_attempts: int = Field(default=5, ge=1, le=100)
    shipping_fee_fen: int = Field(default=0, ge=0, le=10**8, description="Delivery fee (tier benefits may waive it).")
    free_shipping_over_fen: int | None = Field(default=None, ge=0, description="Free delivery from this subtotal.")


class PolicyOut(PolicyIn):
    updated_at: datetime


RefundCreate.model_rebuild()
