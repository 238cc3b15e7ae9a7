"""Orders and what happens to them: lines, payments, refunds, shipments, after-sales requests, and the one
after-sales policy every channel shares.

State machine (``Order.status``; each change is one conditional UPDATE on the expected old state, so two
concurrent changes cannot both win):

    pending_payment -> paid -> fulfilling -> shipped ---------> completed
                         |         |      \\-> ready_for_pickup -> completed
                         |         \\-> cancelled (refunded in full)
                         \\-> cancelled (refunded in full)
    pending_payment -> cancelled (by the customer, an operator, or the unpaid timeout)
    paid | fulfilling | ready_for_pickup -> cancelled ("refunded": refunds covered the whole order)

Refunds (after-sales, by an operator or by the provider) grow ``refunded_fen`` to at most ``paid_fen`` and
leave the status as it is, but for one case. Before the order ships (``paid``, ``fulfilling``,
``ready_for_pickup``) units refunded go back to stock and leave the shipment (a line's
``cancelled_quantity``), and an order refunded in full then (every unit, or every fen) is closed:
``cancelled`` with ``cancel_reason = "refunded"`` (``refunds.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("import_source", "external_id"),
        Index("ix_orders_person_created", "person_id", "created_at"),
        Index("ix_orders_status_expires", "status", "reserve_expires_at"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= paid_fen", name="refunds"),
        CheckConstraint("total_fen >= 0", name="total"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    fulfilment: Mapped[str] = mapped_column(String(16))  # delivery | pickup
    pickup_location_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    pickup_code: Mapped[str | None] = mapped_column(String(6), nullable=True)
    pickup_attempts: Mapped[int] = mapped_column(Integer, default=0)
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_fen: Mapped[int] = mapped_column(BigInteger)
    discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # every discount, points included
    points_discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # the part paid with points
    shipping_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    note: Mapped[str] = mapped_column(String(500), default="")
    # A special price the order claimed (flash sale, group-buy): its kind and id in promotions.
    promotion_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    promotion_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    reserve_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Imported history: where it came from and its id there (idempotent re-imports).
    import_source: Mapped[str | None] = mapped_column(String(64), nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(128), nullable=True)


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("refunded_quantity >= 0 AND refunded_quantity <= quantity", name="refunded"),
        CheckConstraint("cancelled_quantity >= 0 AND cancelled_quantity <= quantity", name="cancelled"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    sku_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # None for imported lines
    sku_code: Mapped[str] = mapped_column(String(100))
    product_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    title: Mapped[str] = mapped_column(String(400))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(BigInteger)
    total_fen: Mapped[int] = mapped_column(BigInteger)  # unit price x quantity
    discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # its share of the tier and coupon discounts
    # its share of what points paid (``pricing.allocate`` over ``total_fen - discount_fen``); not in discount_fen
    points_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    location_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # where the stock was reserved
    refunded_quantity: Mapped[int] = mapped_column(Integer, default=0)
    # Units taken off the order before they shipped (refunded then, or the paid order cancelled): back in
    # stock at ``location_id`` and not to be shipped. Never decreases: a refund of them that fails leaves
    # money owed, not goods (``refunds.py``). What the order ships is ``quantity - cancelled_quantity``.
    cancelled_quantity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("provider", "provider_ref"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str] = mapped_column(String(128))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # pending -> succeeded | failed; a succeeded payment that could not be applied (the order had been
    # cancelled, or paid already) is refunded in full and marked ``refused``.
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount"),
        UniqueConstraint("payment_id", "provider_ref"),  # a provider's refund is recorded once
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # pending | succeeded | failed
    return_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # A refund the provider made on its own (``payment.refunded``): the provider's id of it.
    provider_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lines: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"line_id", "quantity"}]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Shipment(Base):
    __tablename__ = "shipments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    carrier: Mapped[str] = mapped_column(String(64))
    tracking_number: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))  # shipped | in_transit | out_for_delivery | delivered
    events: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"status", "at", "note"}]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReturnRequest(Base):
    """An after-sales request: refund only, or return the goods and refund."""

    __tablename__ = "returns"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # where it was asked for (any channel, any order)
    kind: Mapped[str] = mapped_column(String(16))  # refund_only | return
    # requested -> approved -> (return: received) -> refunded; requested -> rejected | withdrawn;
    # refunded -> refund_failed when the provider reports the refund failed (the quantities are free again)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500), default="")
    lines: Mapped[list[Any]] = mapped_column(JSON)  # [{"line_id", "quantity"}]
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    decision_note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    refund_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CommercePolicy(Base):
    """One row: the rules every channel shares."""

    __tablename__ = "commerce_policy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    return_window_days: Mapped[int] = mapped_column(Integer, default=7)
    returns_need_reason: Mapped[bool] = mapped_column(default=False)  # 7天无理由退货: no reason needed
    unpaid_timeout_minutes: Mapped[int] = mapped_column(Integer, default=30)
    auto_complete_days: Mapped[int] = mapped_column(Integer, default=10)  # shipped -> completed if not confirmed
    pickup_max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    shipping_fee_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # delivery; pickup ships nothing
    free_shipping_over_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
