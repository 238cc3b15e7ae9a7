"""Reading orders and changing their status.

Every status change goes through :func:`transition`: one ``UPDATE ... WHERE status IN (expected)``, so of
two concurrent changes (a payment and the timeout, two cancels, a cancel and a shipment) exactly one wins
and the other sees the new state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.db import affected
from siyu.orders.errors import InvalidTransition, OrderNotFound
from siyu.orders.models import Order, OrderLine


# -- reading ------------------------------------------------------------------------------------------------
def get(session: Session, order_id: str) -> Order:
    order = session.get(Order, order_id, populate_existing=True)
    if order is None:
        raise OrderNotFound(details={"order_id": order_id})
    return order


def lines_of(session: Session, order_id: str) -> list[OrderLine]:
    return list(session.scalars(select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id)))


def list_orders(session: Session, person_ids: Sequence[str] | None, status: str | None, channel: str | None,
                before: str | None, limit: int) -> Sequence[Order]:
    """Newest first (ids are time-ordered). ``person_ids``: one customer's orders from every channel."""
    q = select(Order).order_by(Order.id.desc()).limit(limit)
    if person_ids is not None:
        q = q.where(Order.person_id.in_(person_ids))
    if status:
        q = q.where(Order.status == status)
    if channel:
        q = q.where(Order.channel == channel)
    if before:
        q = q.where(Order.id < before)
    return session.scalars(q).all()


# -- state changes ------------------------------------------------------------------------------------------
def transition(session: Session, order_id: str, expected: Sequence[str], to: str, **values: Any) -> bool:
    """Move the order to ``to`` if it is in one of ``expected``; False (and no change) otherwise."""
    stmt = (update(Order).where(Order.id == order_id, Order.status.in_([str(s) for s in expected]))
            .values(status=str(to), **values))
    return bool(affected(session.execute(stmt)))


def require(session: Session, order_id: str, expected: Sequence[str], to: str, **values: Any) -> Order:
    if not transition(session, order_id, expected, to, **values):
        order = get(session, order_id)
        raise InvalidTransition(details={"order_id": order_id, "status": order.status, "to": str(to)})
    return get(session, order_id)


def require_from(session: Session, order_id: str, groups: Sequence[Sequence[str]], to: str,
                 **values: Any) -> tuple[Order, int]:
    """Like :func:`require` for a change whose consequences depend on the state it leaves: each group of
    expected states is tried in turn with its own conditional UPDATE, and the index of the group that
    matched says which state the order was in when it changed. A status read before the UPDATE could be
    stale by then (a payment landing between a cancel's read and its write)."""
    for i, expected in enumerate(groups):
        if expected and transition(session, order_id, expected, to, **values):
            return get(session, order_id), i
    order = get(session, order_id)
    raise InvalidTransition(details={"order_id": order_id, "status": order.status, "to": str(to)})


