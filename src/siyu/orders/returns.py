"""After-sales under the one policy of every channel: a customer asks (in any channel, for an order from
any channel) within ``return_window_days`` of receiving it; an operator approves or rejects; a refund-only
request is refunded on approval, a return when the goods are received (and they go back into stock where
they came from). Before the order ships (or is picked up) every request is refund-only, and its units go
back into stock when it is refunded (``refunds.py``: not shipped; the order closed if that was all of it).

Quantities cannot be over-claimed: a request may cover only what is neither refunded nor claimed by another
open request, checked inside the order's write (the conditional UPDATE on the order row serialises
concurrent requests for one order).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.catalog import stock
from siyu.db import affected
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id
from siyu.orders import refunds, unshipped
from siyu.orders.errors import (
    InvalidTransition,
    ReasonRequired,
    RefundTooLarge,
    ReturnNotFound,
    ReturnWindowClosed,
)
from siyu.orders.events import order_event
from siyu.orders.models import Order, OrderLine, ReturnRequest
from siyu.orders.policy import policy, return_deadline
from siyu.orders.repository import get, lines_of
from siyu.orders.schemas import ReturnCreate, ReturnKind, Status

OPEN = ("requested", "approved")
RETURNABLE = (Status.paid, Status.fulfilling, Status.shipped, Status.ready_for_pickup, Status.completed)


def get_return(session: Session, return_id: str) -> ReturnRequest:
    r = session.get(ReturnRequest, return_id, populate_existing=True)
    if r is None:
        raise ReturnNotFound(details={"return_id": return_id})
    return r


def returns_of(session: Session, order_id: str) -> Sequence[ReturnRequest]:
    return session.scalars(select(ReturnRequest).where(ReturnRequest.order_id == order_id)
                           .order_by(ReturnRequest.created_at)).all()


def _claimed(session: Session, order_id: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in session.scalars(select(ReturnRequest).where(ReturnRequest.order_id == order_id,
                                                         ReturnRequest.status.in_(OPEN))):
        for x in r.lines:
            out[x["line_id"]] = out.get(x["line_id"], 0) + int(x["quantity"])
    return out


def request(session: Session, order_id: str, body: ReturnCreate, channel: str, now: datetime | None = None
            ) -> ReturnRequest:
    now = now or utcnow()
    # Touch the order row first: the write lock orders concurrent requests for the same order.
    session.execute(update(Order).where(Order.id == order_id).values(note=Order.note))
    order = get(session, order_id)
    pol = policy(session)
    if order.status not in RETURNABLE:
        raise InvalidTransition(details={"order_id": order_id, "status": order.status})
    deadline = return_deadline(order, pol)
    if deadline is not None and now > deadline:
        raise ReturnWindowClosed(details={"order_id": order_id, "deadline": deadline.isoformat()})
    if pol.returns_need_reason and not body.reason.strip():
        raise ReasonRequired()
    lines = {ln.id: ln for ln in lines_of(session, order_id)}
    claimed = _claimed(session, order_id)
    quantities: dict[str, int] = {}
    for x in body.lines:
        quantities[x.line_id] = quantities.get(x.line_id, 0) + x.quantity
    # Before the goods reach the customer there is nothing to send back: every request is refund-only.
    kind = body.kind if order.status not in unshipped.UNSHIPPED else ReturnKind.refund_only
    for line_id, qty in quantities.items():
        ln: OrderLine | None = lines.get(line_id)
        if ln is None:
            raise RefundTooLarge(details={"line_id": line_id, "quantity": qty})
        # a return sends back units that shipped: not those taken off before (already in stock), even if a
        # failed refund left them unpaid (that money is owed: refund-only)
        taken = ln.refunded_quantity if kind == ReturnKind.refund_only \
            else max(ln.refunded_quantity, ln.cancelled_quantity)
        if qty > ln.quantity - taken - claimed.get(line_id, 0):
            raise RefundTooLarge(details={"line_id": line_id, "quantity": qty})
    r = ReturnRequest(id=new_id(), order_id=order_id, person_id=order.person_id, channel=channel,
                      kind=kind.value, status="requested", reason=body.reason,
                      lines=[{"line_id": k, "quantity": v} for k, v in quantities.items()],
                      amount_fen=refunds.line_amount(list(lines.values()), quantities), created_at=now)
    session.add(r)
    session.flush()
    _event(session, order, "returns.requested", r, now)
    return r


def _event(session: Session, order: Order, topic: str, r: ReturnRequest, now: datetime) -> None:
    order_event(session, order, topic, lines_of(session, order.id), amount_fen=r.amount_fen, at=now,
                quantities={x["line_id"]: int(x["quantity"]) for x in r.lines}, channel=r.channel,
                extra={"return_id": r.id, "kind": r.kind})


def _move(session: Session, return_id: str, expected: Sequence[str], to: str, **values: object) -> ReturnRequest:
    done = affected(session.execute(update(ReturnRequest).where(ReturnRequest.id == return_id,
                                                       ReturnRequest.status.in_(expected))
                           .values(status=to, **values)))
    r = get_return(session, return_id)
    if not done:
        raise InvalidTransition(details={"return_id": return_id, "status": r.status})
    return r


def _refund(session: Session, r: ReturnRequest, now: datetime) -> ReturnRequest:
    order = get(session, r.order_id)
    quantities = {x["line_id"]: int(x["quantity"]) for x in r.lines}
    refund = refunds.refund(session, order, r.amount_fen, f"return:{r.kind}", quantities=quantities,
                            return_id=r.id, goods_back=r.kind == ReturnKind.return_, now=now)
    return _move(session, r.id, ("approved",), "refunded", refund_id=refund.id)


def decide(session: Session, return_id: str, approve: bool, note: str, now: datetime | None = None
           ) -> ReturnRequest:
    now = now or utcnow()
    r = _move(session, return_id, ("requested",), "approved" if approve else "rejected", decided_at=now,
              decision_note=note or None)
    order = get(session, r.order_id)
    _event(session, order, "returns.approved" if approve else "returns.rejected", r, now)
    if approve and r.kind == ReturnKind.refund_only:
        return _refund(session, r, now)
    return r


def receive(session: Session, return_id: str, now: datetime | None = None) -> ReturnRequest:
    """The returned goods arrived: back into stock where they were sold from, and the money back."""
    now = now or utcnow()
    r = get_return(session, return_id)
    if r.kind != ReturnKind.return_:
        raise InvalidTransition("A refund-only request has no goods to receive.", details={"return_id": return_id})
    done = affected(session.execute(update(ReturnRequest).where(ReturnRequest.id == return_id,
                                                       ReturnRequest.status == "approved",
                                                       ReturnRequest.received_at.is_(None))
                           .values(received_at=now)))
    r = get_return(session, return_id)
    if not done:
        raise InvalidTransition(details={"return_id": return_id, "status": r.status})
    lines = {ln.id: ln for ln in lines_of(session, r.order_id)}
    for x in r.lines:
        ln = lines[x["line_id"]]
        if ln.sku_id and ln.location_id:
            stock.restock(session, ln.sku_id, ln.location_id, int(x["quantity"]))
    _event(session, get(session, r.order_id), "returns.received", r, now)
    return _refund(session, r, now)


def withdraw(session: Session, return_id: str) -> ReturnRequest:
    return _move(session, return_id, ("requested",), "withdrawn")
