"""Database rows -> API schemas."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.orders.models import Order, OrderLine, Payment, Refund, ReturnRequest, Shipment
from siyu.orders.policy import policy, return_deadline
from siyu.orders.repository import lines_of
from siyu.orders.schemas import (
    Fulfilment,
    LineOut,
    OrderOut,
    PaymentOut,
    RefundOut,
    ReturnOut,
    ShipmentOut,
    Status,
)
from siyu.promotions.coupons import coupon_ids


class Placed(NamedTuple):
    """What an order created in this transaction holds."""

    lines: Sequence[OrderLine]
    coupons: Sequence[str]  # the coupons it locked


def order_out(session: Session, order: Order, placed: Placed | None = None) -> OrderOut:
    """The API form of an order; ``placed``: it was created in this transaction (what it holds is known, and
    it has no payments, refunds or shipments yet)."""
    payments: Iterable[Payment] = ()
    refunds: Iterable[Refund] = ()
    shipments: Iterable[Shipment] = ()
    if placed is None:
        lines = lines_of(session, order.id)
        coupons = coupon_ids(session, order.id)
        payments = session.scalars(select(Payment).where(Payment.order_id == order.id).order_by(Payment.created_at))
        refunds = session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.created_at))
        shipments = session.scalars(select(Shipment).where(Shipment.order_id == order.id)
                                    .order_by(Shipment.created_at))
    else:
        lines, coupons = sorted(placed.lines, key=lambda ln: ln.id), sorted(placed.coupons)
    return OrderOut(
        id=order.id, person_id=order.person_id, channel=order.channel, status=Status(order.status),
        fulfilment=Fulfilment(order.fulfilment), pickup_location_id=order.pickup_location_id,
        pickup_code=order.pickup_code if order.status == Status.ready_for_pickup else None,
        address=order.address, currency=order.currency, subtotal_fen=order.subtotal_fen,
        discount_fen=order.discount_fen, points_discount_fen=order.points_discount_fen,
        shipping_fen=order.shipping_fen, total_fen=order.total_fen,
        paid_fen=order.paid_fen, refunded_fen=order.refunded_fen, note=order.note,
        reserve_expires_at=order.reserve_expires_at, promotion_kind=order.promotion_kind,
        promotion_id=order.promotion_id, coupons=coupons,
        created_at=order.created_at, paid_at=order.paid_at,
        shipped_at=order.shipped_at, completed_at=order.completed_at, cancelled_at=order.cancelled_at,
        cancel_reason=order.cancel_reason, return_deadline=return_deadline(order, policy(session)),
        lines=[LineOut.model_validate(ln, from_attributes=True) for ln in lines],
        payments=[PaymentOut.model_validate(p, from_attributes=True) for p in payments],
        refunds=[RefundOut.model_validate(r, from_attributes=True) for r in refunds],
        shipments=[ShipmentOut.model_validate(s, from_attributes=True) for s in shipments],
    )


def return_out(r: ReturnRequest) -> ReturnOut:
    return ReturnOut.model_validate(r, from_attributes=True)
