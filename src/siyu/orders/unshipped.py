"""Units that will not ship: taken off an order before it shipped and put back into stock where they were
reserved (``on_hand`` at the line's location). A line's ``cancelled_quantity`` counts them; what the order
ships is ``quantity - cancelled_quantity``.

Concurrency. Every caller has written the order's row earlier in its transaction (a refund's
``refunded_fen`` UPDATE, a cancellation's status UPDATE), so it holds that row's lock (PostgreSQL) or the
write lock (SQLite) until it commits: a shipment (its status UPDATE on the same row), another refund and a
cancellation of the order wait for it, and the status it reads afterwards cannot change before its commit.
A line's count only grows, by one conditional UPDATE on the value read (``cancelled_quantity = old``), and
the stock grows by the same difference, so a unit is put back once however refunds, failed refunds and
cancellation interleave.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.catalog import stock
from siyu.db import affected
from siyu.orders.models import OrderLine
from siyu.orders.schemas import Status

UNSHIPPED = (Status.paid, Status.fulfilling, Status.ready_for_pickup)  # paid for, not yet with the customer


def fresh_lines(session: Session, order_id: str) -> list[OrderLine]:
    return list(session.scalars(select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id)
                                .execution_options(populate_existing=True)))


def _take_off(session: Session, order_id: str, upto: Callable[[OrderLine], int]) -> dict[str, int]:
    """Raise each line's ``cancelled_quantity`` to ``upto(line)`` (never lower it) and restock the
    difference; returns what went back, per line."""
    back: dict[str, int] = {}
    for ln in fresh_lines(session, order_id):
        was = ln.cancelled_quantity
        more = min(upto(ln), ln.quantity) - was
        if more <= 0:
            continue
        done = affected(session.execute(update(OrderLine).where(OrderLine.id == ln.id,
                                                                OrderLine.cancelled_quantity == was)
                                        .values(cancelled_quantity=was + more)))
        if not done:  # the order row's lock makes this unreachable
            raise RuntimeError(f"order line {ln.id} was taken off by another despite the order's lock")
        if ln.sku_id and ln.location_id:
            stock.restock(session, ln.sku_id, ln.location_id, more)
        back[ln.id] = more
    return back


def refunded_units(session: Session, order_id: str) -> dict[str, int]:
    """Units refunded before shipping: back to stock, off the shipment (those put back before stay back)."""
    return _take_off(session, order_id, lambda ln: ln.refunded_quantity)


def every_unit(session: Session, order_id: str) -> dict[str, int]:
    """A paid order that will not ship at all (cancelled, or refunded in full): every unit not back yet."""
    return _take_off(session, order_id, lambda ln: ln.quantity)


def to_ship(lines: Sequence[OrderLine]) -> dict[str, int]:
    """What each line ships (its units not taken off), for the fulfilment events."""
    return {ln.id: ln.quantity - ln.cancelled_quantity for ln in lines}
