from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, HttpUrl, model_validator


class SaleChannel(StrEnum):
    """The channels a customer buys in (server-side sources are not storefronts)."""

    miniprogram = "miniprogram"
    web = "web"
    app = "app"


class LocationKind(StrEnum):
    warehouse = "warehouse"
    store = "store"


class Spec(BaseModel):
    group: str = Field(default="", max_length=100)
    name: str = Field(min_length=1, max_length=100)
    value: str = Field(max_length=1000)


class ListingIn(BaseModel):
    price_fen: int = Field(ge=0, le=10**12, description="Price in fen (1/100 yuan).")
    list_price_fen: int | None = Field(default=None, ge=0, le=10**12)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    visible: bool = True
    available_from: datetime | None = None
    available_until: datetime | None = None
    min_tier: str | None = Field(default=None, max_length=32, description="Only members of this tier or higher.")

    @model_validator(mode="after")
    def _window(self) -> ListingIn:
        for name in ("available_from", "available_until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a time zone")
        if self.available_from and self.available_until and self.available_until <= self.available_from:
            raise ValueError("available_until must be after available_from")
        return self


class ListingOut(ListingIn):
    channel: SaleChannel


class SkuIn(BaseModel):
    code: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._\-/]+$")
    name: str = Field(default="", max_length=300)
    attributes: dict[str, str] = Field(default_factory=dict)
    images: list[HttpUrl] = Field(default_factory=list, max_length=50)
    listings: dict[SaleChannel, ListingIn] = Field(default_factory=dict)


class SkuOut(BaseModel):
    id: str
    product_id: str
    code: str
    name: str
    attributes: dict[str, Any]
    images: list[str]
    active: bool
    listings: list[ListingOut]


class ProductIn(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20_000)
    category_id: str | None = None
    brand: str | None = Field(default=None, max_length=200)
    attributes: dict[str, str] = Field(default_factory=dict)
    specs: list[Spec] = Field(default_factory=list, max_length=500)
    images: list[HttpUrl] = Field(default_factory=list, max_length=50)
    skus: list[SkuIn] = Field(default_factory=list, max_length=500)


class ProductUpdate(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20_000)
    category_id: str | None = None
    brand: str | None = Field(default=None, max_length=200)
    attributes: dict[str, str] | None = None
    specs: list[Spec] | None = Field(default=None, max_length=500)
    images: list[HttpUrl] | None = Field(default=None, max_length=50)
    active: bool | None = None


class ProductOut(BaseModel):
    id: str
    title: str
    description: str
    category_id: str | None
    brand: str | None
    attributes: dict[str, Any]
    specs: list[Spec]
    images: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime
    skus: list[SkuOut]


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None


class CategoryIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    parent_id: str | None = None


class CategoryOut(CategoryIn):
    id: str


class LocationIn(BaseModel):
    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$")
    name: str = Field(min_length=1, max_length=200)
    kind: LocationKind
    address: str = Field(default="", max_length=500)
    pickup: bool = False
    ships: bool = True
    priority: int = Field(default=100, ge=0, le=10_000)


class LocationOut(LocationIn):
    id: str


class StockSet(BaseModel):
    on_hand: int = Field(ge=0, le=10**9)


class StockAdjust(BaseModel):
    delta: int = Field(ge=-(10**9), le=10**9)
    reason: str = Field(default="adjustment", max_length=200)


class StockOut(BaseModel):
    sku_id: str
    location_id: str
    on_hand: int
    reserved: int
    available: int

