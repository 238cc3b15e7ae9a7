"""Fulfilment: delivery (shipments with tracking updates) or store pickup (门店自提) with a 6-digit code.
What an order ships (or hands over) is each line's ``quantity - cancelled_quantity``: units refunded before
shipping went back to stock (``unshipped.py``) and are not in it.

A pickup code is checked against its order; wrong codes are counted (``pickup_attempts``) and after
``pickup_max_attempts`` the order is locked for pickup until an operator releases it, so a code cannot be
guessed at the counter. :func:`check_pickup_code` therefore reports a wrong code instead of raising, so the
caller can commit the count.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.db import affected
from siyu.kit.clock import iso, utcnow
from siyu.kit.ids import new_id
from siyu.orders.errors import InvalidTransition, NotShipped, OrderNotFound, PickupLocked
from siyu.orders.events import order_event
from siyu.orders.models import Order, Shipment
from siyu.orders.policy import policy
from siyu.orders.repository import get, lines_of, require
from siyu.orders.schemas import Fulfilment, Status
from siyu.orders.unshipped import to_ship

READY = (Status.paid, Status.fulfilling)
TRACKED = (Status.shipped, Status.completed)  # carrier updates are taken for these


def start(session: Session, order_id: str, now: datetime | None = None) -> Order:
    """Picking and packing started (the customer can no longer cancel by themself)."""
    order = require(session, order_id, (Status.paid,), Status.fulfilling)
    lines = lines_of(session, order_id)
    order_event(session, order, "orders.fulfilling", lines, at=now or utcnow(), quantities=to_ship(lines),
                extra={"status": order.status})
    return order


def _need(order: Order, fulfilment: Fulfilment) -> None:
    if order.fulfilment != fulfilment:
        raise InvalidTransition(f"This is a {order.fulfilment} order.", details={"order_id": order.id})


def ship(session: Session, order_id: str, carrier: str, tracking_number: str, now: datetime | None = None) -> Order:
    now = now or utcnow()
    _need(get(session, order_id), Fulfilment.delivery)
    order = require(session, order_id, READY, Status.shipped, shipped_at=now)
    session.add(Shipment(id=new_id(), order_id=order_id, carrier=carrier, tracking_number=tracking_number,
                         status="shipped", events=[{"status": "shipped", "at": iso(now), "note": ""}],
                         created_at=now, updated_at=now))
    lines = lines_of(session, order_id)  # read after the status change: units refunded before it stay off
    order_event(session, order, "orders.shipped", lines, at=now, quantities=to_ship(lines),
                extra={"carrier": carrier, "tracking_number": tracking_number})
    return order


def track(session: Session, order_id: str, shipment_id: str, status: str, note: str,
          now: datetime | None = None) -> Order:
    """A carrier update; ``delivered`` completes the order (and opens the return window, ``Order Received``),
    any other is ``Order Updated``. Only for an order that was shipped (``shipped``, or ``completed``: the
    customer may confirm receipt before the carrier's last update); any other is ``order_not_shipped`` and
    nothing is recorded. A shipped order can only become completed, so the check cannot go stale."""
    now = now or utcnow()
    shipment = session.get(Shipment, shipment_id)
    if shipment is None or shipment.order_id != order_id:
        raise OrderNotFound("No such shipment on this order.", details={"shipment_id": shipment_id})
    order = get(session, order_id)
    if order.status not in TRACKED:
        raise NotShipped(details={"order_id": order_id, "status": order.status, "shipment_id": shipment_id})
    events: list[dict[str, Any]] = [*shipment.events, {"status": status, "at": iso(now), "note": note}]
    shipment.events = events
    shipment.status = status
    shipment.updated_at = now
    session.flush()
    if status == "delivered":
        return complete(session, order_id, (Status.shipped,), now)
    order = get(session, order_id)
    order_event(session, order, "orders.shipment_updated", lines_of(session, order_id), at=now,
                extra={"status": order.status, "shipment_id": shipment.id, "carrier": shipment.carrier,
                       "tracking_number": shipment.tracking_number, "shipment_status": status, "note": note})
    return order


def complete(session: Session, order_id: str, expected: tuple[Status, ...], now: datetime | None = None) -> Order:
    now = now or utcnow()
    stmt = (update(Order).where(Order.id == order_id, Order.status.in_([s.value for s in expected]))
            .values(status=Status.completed.value, completed_at=now))
    if not affected(session.execute(stmt)):
        order = get(session, order_id)
        if order.status == Status.completed:
            return order  # a repeated "delivered" update
        raise InvalidTransition(details={"order_id": order_id, "status": order.status})
    order = get(session, order_id)
    order_event(session, order, "orders.completed", lines_of(session, order_id), at=now)
    return order


def _new_code(session: Session, location_id: str) -> str:
    """Six digits, unique among the orders waiting at the store."""
    for _ in range(50):
        code = f"{secrets.randbelow(1_000_000):06d}"
        clash = session.scalar(select(Order.id).where(Order.pickup_location_id == location_id,
                                                      Order.status == Status.ready_for_pickup.value,
                                                      Order.pickup_code == code))
        if clash is None:
            return code
    raise RuntimeError("no free pickup code")  # a million codes for one store's waiting orders


def ready_for_pickup(session: Session, order_id: str, now: datetime | None = None) -> Order:
    now = now or utcnow()
    order = get(session, order_id)
    _need(order, Fulfilment.pickup)
    assert order.pickup_location_id is not None
    code = _new_code(session, order.pickup_location_id)
    order = require(session, order_id, READY, Status.ready_for_pickup, pickup_code=code, pickup_attempts=0)
    lines = lines_of(session, order_id)
    order_event(session, order, "orders.ready_for_pickup", lines, at=now, quantities=to_ship(lines),
                extra={"pickup_location_id": order.pickup_location_id})
    return order


def check_pickup_code(session: Session, order_id: str, code: str, now: datetime | None = None) -> Order | None:
    """Complete a pickup with its code: the order, or None for a wrong code (the attempt is counted).
    The order's row is written first: its lock makes concurrent guesses take turns, so no more than
    ``pickup_max_attempts`` of them are ever compared with the code."""
    session.execute(update(Order).where(Order.id == order_id).values(pickup_attempts=Order.pickup_attempts))
    order = get(session, order_id)
    if order.status != Status.ready_for_pickup:
        raise InvalidTransition(details={"order_id": order_id, "status": order.status})
    limit = policy(session).pickup_max_attempts
    if order.pickup_attempts >= limit:
        raise PickupLocked(details={"order_id": order_id})
    if not secrets.compare_digest(order.pickup_code or "", code):
        session.execute(update(Order).where(Order.id == order_id)
                        .values(pickup_attempts=Order.pickup_attempts + 1))
        return None
    return complete(session, order_id, (Status.ready_for_pickup,), now)


def pickup_at_store(session: Session, location_id: str, code: str, now: datetime | None = None) -> Order | None:
    """Store staff type the customer's code: the waiting order at this store with that code, completed."""
    order_id = session.scalar(select(Order.id).where(Order.pickup_location_id == location_id,
                                                     Order.status == Status.ready_for_pickup.value,
                                                     Order.pickup_code == code))
    if order_id is None:
        return None
    return check_pickup_code(session, order_id, code, now)


def release_pickup_lock(session: Session, order_id: str) -> Order:
    session.execute(update(Order).where(Order.id == order_id).values(pickup_attempts=0))
    return get(session, order_id)


def auto_complete_due(session: Session, now: datetime, limit: int = 500) -> list[str]:
    """Shipped orders nobody confirmed within ``auto_complete_days``: completed by the sweeper."""
    cutoff = now - timedelta(days=policy(session).auto_complete_days)
    return list(session.scalars(select(Order.id).where(Order.status == Status.shipped.value,
                                                       Order.shipped_at <= cutoff).limit(limit)))
