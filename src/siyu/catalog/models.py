"""The catalog: categories, products with their full parameters, SKUs, per-channel listings, locations
(warehouses and stores) and stock per SKU and location.

Stock invariants are CHECK constraints, so no code path (or bug) can store an oversold row:
``0 <= reserved <= on_hand``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("categories.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Product(Base):
    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[str | None] = mapped_column(ForeignKey("categories.id"), nullable=True, index=True)
    brand: Mapped[str | None] = mapped_column(String(200), nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Full detailed parameters (the website's spec table): [{"group", "name", "value"}, ...]
    specs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    images: Mapped[list[Any]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Sku(Base):
    __tablename__ = "skus"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)  # the brand's SKU code
    name: Mapped[str] = mapped_column(String(300))  # e.g. "红色 / M"
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    images: Mapped[list[Any]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Listing(Base):
    """How one SKU is sold in one channel: price, visibility and availability window."""

    __tablename__ = "listings"
    __table_args__ = (CheckConstraint("price_fen >= 0", name="price"),)

    sku_id: Mapped[str] = mapped_column(ForeignKey("skus.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    price_fen: Mapped[int] = mapped_column(BigInteger)
    list_price_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # the struck-through price
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    visible: Mapped[bool] = mapped_column(Boolean, default=True)
    available_from: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    available_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    min_tier: Mapped[str | None] = mapped_column(String(32), nullable=True)  # tier-only items
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Location(Base):
    __tablename__ = "locations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # warehouse | store
    address: Mapped[str] = mapped_column(String(500), default="")
    pickup: Mapped[bool] = mapped_column(Boolean, default=False)  # customers may collect orders here
    ships: Mapped[bool] = mapped_column(Boolean, default=True)  # orders for delivery may be sent from here
    priority: Mapped[int] = mapped_column(Integer, default=100)  # lower ships first
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Stock(Base):
    __tablename__ = "stock"
    __table_args__ = (
        CheckConstraint("reserved >= 0", name="reserved"),
        CheckConstraint("on_hand >= reserved", name="on_hand"),
    )

    sku_id: Mapped[str] = mapped_column(ForeignKey("skus.id"), primary_key=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id"), primary_key=True, index=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
