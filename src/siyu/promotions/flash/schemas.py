from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, model_validator

from siyu.catalog.schemas import SaleChannel
from siyu.promotions.schemas import PromotionRef, Strict

KIND = "flash_sale"  # the promotion kind an order names: {"kind": "flash_sale", "id": <reservation id>}


class FlashSessionIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    sku_id: str = Field(max_length=32)
    channels: list[SaleChannel] = Field(default_factory=list, description="Open in these channels (all if empty).")
    price_fen: int = Field(ge=0, le=10**12, description="The flash price of one unit.")
    quota: int = Field(ge=1, le=10**7, description="Units sold at the flash price in this session.")
    per_member_limit: int = Field(default=1, ge=1, le=1000, description="Units one customer may hold.")
    reservation_ttl_s: int = Field(default=300, ge=10, le=86400,
                                   description="How long a reservation waits for its order.")
    starts_at: datetime
    ends_at: datetime

    @model_validator(mode="after")
    def _window(self) -> FlashSessionIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("give times with a time zone")
        return self


class FlashSessionOut(BaseModel):
    id: str
    name: str
    sku_id: str
    channels: list[str]
    price_fen: int
    quota: int
    remaining: int
    per_member_limit: int
    reservation_ttl_s: int
    starts_at: datetime
    ends_at: datetime
    counter: str
    created_at: datetime


class FlashStats(BaseModel):
    """The invariant, in units: sold + reserved + ordered + remaining == quota (nothing oversold or stranded)."""

    session_id: str
    quota: int
    remaining: int
    reserved: int
    ordered: int
    sold: int
    returned: int
    balanced: bool


class AttemptIn(Strict):
    channel: SaleChannel
    quantity: int = Field(default=1, ge=1, le=1000)


class ReservationOut(BaseModel):
    id: str
    session_id: str
    sku_id: str
    person_id: str
    channel: str
    quantity: int
    price_fen: int
    status: str
    expires_at: datetime
    order_id: str | None
    promotion: PromotionRef = Field(description="Put this in the order's `promotion` to buy at the flash price.")
