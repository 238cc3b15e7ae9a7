"""Domain events of orders, with their Segment e-commerce names in the event store.

| topic                     | event-store name        |
|---------------------------|-------------------------|
| orders.created            | Checkout Started        |
| orders.paid               | Order Completed         |
| orders.cancelled          | Order Cancelled         |
| orders.refunded           | Order Refunded          |
| orders.fulfilling         | Order Updated           |
| orders.shipped            | Order Shipped           |
| orders.shipment_updated   | Order Updated           |
| orders.ready_for_pickup   | Order Ready for Pickup  |
| orders.completed          | Order Received          |
| orders.payment_refused    | Payment Refused         |
| returns.requested / approved / rejected / received | Return Requested / Approved / Rejected / Received |

``Order Completed`` is Segment's name for a finished purchase (it carries ``revenue``), so it marks the
payment; ``Order Received`` marks delivery or pickup. ``Order Updated`` (Segment's name for any other change
of an order) carries the new ``status`` and, for a carrier's update, ``shipment_status``. Amounts are in
yuan in ``total`` / ``revenue`` (as the spec has them) and exact in ``total_fen``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from siyu.identity.anchors import event_anchor
from siyu.metrics import ORDERS
from siyu.orders.models import Order, OrderLine
from siyu.outbox.service import Track, emit

NAMES = {
    "orders.created": "Checkout Started",
    "orders.paid": "Order Completed",
    "orders.cancelled": "Order Cancelled",
    "orders.refunded": "Order Refunded",
    "orders.fulfilling": "Order Updated",
    "orders.shipped": "Order Shipped",
    "orders.shipment_updated": "Order Updated",
    "orders.ready_for_pickup": "Order Ready for Pickup",
    "orders.completed": "Order Received",
    "orders.payment_refused": "Payment Refused",
    "returns.requested": "Return Requested",
    "returns.approved": "Return Approved",
    "returns.rejected": "Return Rejected",
    "returns.received": "Return Received",
}


def yuan(fen: int) -> float:
    return fen / 100


def products(lines: Sequence[OrderLine], quantities: dict[str, int] | None = None) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        qty = line.quantity if quantities is None else quantities.get(line.id, 0)
        if qty:
            out.append({"product_id": line.product_id, "sku": line.sku_code, "name": line.title,
                        "price": yuan(line.unit_price_fen), "quantity": qty})
    return out


def order_event(session: Session, order: Order, topic: str, lines: Sequence[OrderLine], *,
                amount_fen: int | None = None, extra: dict[str, Any] | None = None,
                quantities: dict[str, int] | None = None, at: datetime | None = None,
                channel: str | None = None, anchor: tuple[str, str] | None = None) -> str:
    """Emit one order event through the outbox (same transaction as the change). ``anchor``: the person's
    event anchor, when the caller read it already (``identity.anchors.event_anchor``)."""
    amount = order.total_fen if amount_fen is None else amount_fen
    data: dict[str, Any] = {"order_id": order.id, "status": order.status, "channel": order.channel,
                            "amount_fen": amount, "total_fen": order.total_fen, "currency": order.currency,
                            **(extra or {})}
    kind, value = anchor or event_anchor(session, order.person_id)
    props: dict[str, Any] = {"order_id": order.id, "total": yuan(amount), "total_fen": amount,
                             "currency": order.currency, "products": products(lines, quantities),
                             "fulfilment": order.fulfilment, **(extra or {})}
    if topic == "orders.paid":
        props["revenue"] = yuan(order.total_fen)
        props["subtotal"] = yuan(order.subtotal_fen)
        props["shipping"] = yuan(order.shipping_fen)
        props["discount"] = yuan(order.discount_fen)
    track = Track(event=NAMES[topic], channel=channel or order.channel,
                  user_id=value if kind == "user_id" else None,
                  anonymous_id=value if kind == "anonymous_id" else None, properties=props)
    ORDERS.labels(to=topic.rpartition(".")[2]).inc()
    return emit(session, topic, data, person_id=order.person_id, track=track, at=at)
