"""Stock moves. Every move is one conditional UPDATE whose WHERE clause is the invariant it must keep, so
concurrent orders cannot oversell: on PostgreSQL the row lock makes the second UPDATE re-check the
condition against the first one's committed row; on SQLite writers are serialised. The CHECK constraints
on ``stock`` are the last line of defence.

- reserve (order created):  reserved += q            where on_hand - reserved >= q
- release (cancel/timeout): reserved -= q            where reserved >= q
- deduct (paid):            on_hand -= q, reserved -= q  where reserved >= q
- restock (return received, paid order cancelled): on_hand += q
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.catalog.errors import LocationNotFound, OutOfStock
from siyu.catalog.models import Location, Stock
from siyu.db import affected
from siyu.kit.clock import utcnow


def _move(session: Session, sku_id: str, location_id: str, condition: object, **values: object) -> bool:
    stmt = (update(Stock).where(Stock.sku_id == sku_id, Stock.location_id == location_id)
            .values(updated_at=utcnow(), **values))
    if condition is not None:
        stmt = stmt.where(condition)  # type: ignore[arg-type]
    return bool(affected(session.execute(stmt)))


def reserve_at(session: Session, sku_id: str, location_id: str, qty: int) -> bool:
    return _move(session, sku_id, location_id, Stock.on_hand - Stock.reserved >= qty,
                 reserved=Stock.reserved + qty)


def reserve(session: Session, sku_id: str, qty: int, location_id: str | None = None) -> str:
    """Reserve ``qty`` at ``location_id`` (store pickup) or at the first shipping location, by priority,
    that has it. Returns the location; :class:`OutOfStock` when none has enough."""
    if location_id is not None:
        if session.get(Location, location_id) is None:
            raise LocationNotFound(details={"location_id": location_id})
        if reserve_at(session, sku_id, location_id, qty):
            return location_id
        raise OutOfStock(details={"sku_id": sku_id, "location_id": location_id, "quantity": qty})
    candidates = session.scalars(
        select(Stock.location_id).join(Location, Location.id == Stock.location_id)
        .where(Stock.sku_id == sku_id, Location.ships.is_(True), Stock.on_hand - Stock.reserved >= qty)
        .order_by(Location.priority, Location.id)
    ).all()
    for loc in candidates:
        if reserve_at(session, sku_id, loc, qty):
            return loc
    raise OutOfStock(details={"sku_id": sku_id, "quantity": qty})


def release(session: Session, sku_id: str, location_id: str, qty: int) -> None:
    if not _move(session, sku_id, location_id, Stock.reserved >= qty, reserved=Stock.reserved - qty):
        raise RuntimeError(f"release of {qty} x {sku_id} at {location_id} found less reserved")


def deduct(session: Session, sku_id: str, location_id: str, qty: int) -> None:
    if not _move(session, sku_id, location_id, Stock.reserved >= qty,
                 reserved=Stock.reserved - qty, on_hand=Stock.on_hand - qty):
        raise RuntimeError(f"deduct of {qty} x {sku_id} at {location_id} found less reserved")


def restock(session: Session, sku_id: str, location_id: str, qty: int) -> None:
    if not _move(session, sku_id, location_id, None, on_hand=Stock.on_hand + qty):
        session.add(Stock(sku_id=sku_id, location_id=location_id, on_hand=qty, reserved=0, updated_at=utcnow()))
        session.flush()
