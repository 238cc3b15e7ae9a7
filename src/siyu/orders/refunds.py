"""Refunds: money back through the provider of the payment it came from.

What an order may still refund is guarded by the database: ``refunded_fen`` grows by one conditional
UPDATE (``refunded_fen + amount <= paid_fen``) and each line's ``refunded_quantity`` likewise
(``<= quantity``), so concurrent refund requests can never return more than was paid. A refund through
the webhook provider counts against the order when requested and is given back if the provider reports it
failed (an after-sales request it paid goes to ``refund_failed``, its quantities free again). The order's
coupons come back once its settled refunds cover what was paid, so a refund that fails gives nothing back.

Before the order ships (``paid``, ``fulfilling``, ``ready_for_pickup``) a refund of units takes them off
the order: back to stock where they were reserved, and out of what it ships (``unshipped.py``). An order
refunded in full before it ships (every unit taken off, or refunds covering everything paid) is closed:
``cancelled`` with ``cancel_reason = "refunded"``, its remaining units back in stock, what is left of its
money (the delivery fee, rounding) refunded, ``Order Cancelled``; so a fully refunded order is never shipped
and its stock never lost. Once shipped, units come back only as received returns (``returns.receive``).
All of it is decided after the refund's conditional UPDATE of ``refunded_fen``, under the order row's lock
(PostgreSQL) or the write lock (SQLite) that UPDATE took: a shipment of the same order waits, so a unit is
either shipped or put back, never both and never neither.

A refund the provider made on its own (the brand refunded in the provider's dashboard: ``payment.refunded``)
is recorded as a settled refund of money only, like an operator's amount refund: no quantities, no stock
moves, the status stays, unless it completes a refund in full of an order not yet shipped (closed, as
above). It is recorded once per provider refund id (a unique constraint, checked under the payment's row
lock the callback holds).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.db import affected
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id
from siyu.orders import unshipped
from siyu.orders.errors import InvalidTransition, RefundTooLarge
from siyu.orders.events import order_event
from siyu.orders.models import Order, OrderLine, Payment, Refund, ReturnRequest
from siyu.orders.providers import provider
from siyu.orders.repository import get, lines_of, transition
from siyu.orders.schemas import Status
from siyu.promotions import coupons


def _payment_with_room(session: Session, order_id: str) -> Payment | None:
    return session.scalar(select(Payment).where(Payment.order_id == order_id, Payment.status == "succeeded")
                          .order_by(Payment.created_at))


def _take(session: Session, order_id: str, amount: int) -> bool:
    return bool(affected(session.execute(update(Order).where(Order.id == order_id,
                                                    Order.refunded_fen + amount <= Order.paid_fen)
                                .values(refunded_fen=Order.refunded_fen + amount))))


def _take_lines(session: Session, quantities: dict[str, int]) -> bool:
    for line_id, qty in quantities.items():
        done = affected(session.execute(update(OrderLine).where(OrderLine.id == line_id,
                                                       OrderLine.refunded_quantity + qty <= OrderLine.quantity)
                               .values(refunded_quantity=OrderLine.refunded_quantity + qty)))
        if not done:
            return False
    return True


def _unit_share(amount: int, ln: OrderLine, qty: int, after: int) -> int:
    """``qty`` units' share of ``amount`` spread over the line's units: ``amount // quantity`` each, the last
    unit (refunding it brings the line to ``after == quantity``) also takes the remainder, so the shares of
    all its units add up to exactly ``amount``."""
    share = amount // ln.quantity * qty
    return share + (amount - amount // ln.quantity * ln.quantity if after >= ln.quantity else 0)


def line_amount(lines: Sequence[OrderLine], quantities: dict[str, int]) -> int:
    """What ``quantities`` of the lines (refunded next) were paid in money: their share of the line after its
    tier and coupon discounts, less its points share (``points_share``: given back as points)."""
    by_id = {ln.id: ln for ln in lines}
    return sum(_unit_share(by_id[i].total_fen - by_id[i].discount_fen - by_id[i].points_fen, by_id[i], q,
                           by_id[i].refunded_quantity + q) for i, q in quantities.items())


def points_share(ln: OrderLine, qty: int, after: int) -> int:
    """What points paid of ``qty`` units of the line, refunded to ``after`` units in all."""
    return _unit_share(ln.points_fen, ln, qty, after)


def points_refunded_fen(session: Session, order_id: str) -> int:
    """The points share (fen) of the order's settled refunds of applied payments: what loyalty gives back."""
    rows = session.scalars(select(Refund.lines).join(Payment, Payment.id == Refund.payment_id)
                           .where(Refund.order_id == order_id, Refund.status == "succeeded",
                                  Payment.status == "succeeded")).all()
    return sum(int(x.get("points_fen", 0)) for lines in rows for x in lines)


def refund(session: Session, order: Order, amount: int, reason: str, *, quantities: dict[str, int] | None = None,
           return_id: str | None = None, goods_back: bool = False, now: datetime | None = None) -> Refund:
    """Refund ``amount`` of the order (and, with ``quantities``, those units of its lines). Units refunded
    before the order ships go back to stock (not when ``goods_back``: a received return restocked them), and
    an order refunded in full before it ships is closed."""
    now = now or utcnow()
    payment = _payment_with_room(session, order.id)
    if payment is None or amount <= 0 or not _take(session, order.id, amount):
        raise RefundTooLarge(details={"order_id": order.id, "amount_fen": amount})
    if quantities and not _take_lines(session, quantities):
        raise RefundTooLarge(details={"order_id": order.id, "lines": quantities})
    # each line's points share, from its refunded units counted under the row lock _take_lines took
    fresh = {ln.id: ln for ln in lines_of(session, order.id)} if quantities else {}
    for ln in fresh.values():
        session.refresh(ln)
    lines_json: list[dict[str, Any]] = [
        {"line_id": k, "quantity": v, "points_fen": points_share(fresh[k], v, fresh[k].refunded_quantity)}
        for k, v in (quantities or {}).items()]
    prov = provider(payment.provider)
    r = Refund(id=new_id(), order_id=order.id, payment_id=payment.id, amount_fen=amount, reason=reason[:64],
               status="succeeded" if prov.settles_refunds_at_once else "pending", return_id=return_id,
               lines=lines_json, created_at=now, settled_at=now if prov.settles_refunds_at_once else None)
    session.add(r)
    session.flush()
    # The order's row is locked by _take: the status read now holds until the commit.
    if quantities and not goods_back and get(session, order.id).status in unshipped.UNSHIPPED:
        unshipped.refunded_units(session, order.id)
    if prov.settles_refunds_at_once:
        announce(session, r, now)
    close_if_refunded(session, order.id, now)
    return r


def close_if_refunded(session: Session, order_id: str, now: datetime) -> bool:
    """An order not yet shipped whose every unit was taken off, or whose refunds cover everything paid, is
    closed (as Youzan and Taobao close it, 交易关闭): ``cancelled`` (``cancel_reason:
    "refunded"``), every unit not yet back restocked, what is left of the money refunded (the delivery fee,
    rounding), ``Order Cancelled``. Call it only holding the order row's lock (after writing the row)."""
    order = get(session, order_id)
    if order.status not in unshipped.UNSHIPPED or order.paid_fen <= 0:
        return False
    lines = unshipped.fresh_lines(session, order_id)
    if not (all(ln.cancelled_quantity >= ln.quantity for ln in lines) or order.refunded_fen >= order.paid_fen):
        return False
    if not transition(session, order_id, unshipped.UNSHIPPED, Status.cancelled, cancelled_at=now,
                      cancel_reason="refunded"):
        return False  # not reachable under the row lock
    unshipped.every_unit(session, order_id)
    refund_remaining(session, order, reason="order_closed", now=now)
    order_event(session, get(session, order_id), "orders.cancelled", lines, extra={"reason": "refunded"}, at=now)
    return True


def _release_coupons_if_refunded(session: Session, order: Order) -> None:
    """Refunded in full (settled refunds of the applied payments cover what was paid): the order's coupons
    come back."""
    settled = session.scalar(select(func.coalesce(func.sum(Refund.amount_fen), 0))
                             .join(Payment, Payment.id == Refund.payment_id)
                             .where(Refund.order_id == order.id, Refund.status == "succeeded",
                                    Payment.status == "succeeded"))
    if order.paid_fen > 0 and int(settled or 0) >= order.paid_fen:
        coupons.release_for_order(session, order.id)


def announce(session: Session, r: Refund, now: datetime) -> None:
    """A refund of an applied payment settled: the order's coupons (if refunded in full) and the event."""
    order = get(session, r.order_id)
    _release_coupons_if_refunded(session, order)
    quantities = {str(x["line_id"]): int(x["quantity"]) for x in r.lines}
    order_event(session, order, "orders.refunded", lines_of(session, order.id), amount_fen=r.amount_fen,
                quantities=quantities or None, extra={"refund_id": r.id, "reason": r.reason}, at=now)


def refund_remaining(session: Session, order: Order, reason: str, now: datetime | None = None) -> Refund | None:
    """Refund whatever of the order is not refunded yet (a paid order cancelled)."""
    order = get(session, order.id)
    left = order.paid_fen - order.refunded_fen
    if left <= 0:
        return None
    lines = lines_of(session, order.id)
    quantities = {ln.id: ln.quantity - ln.refunded_quantity for ln in lines if ln.quantity > ln.refunded_quantity}
    return refund(session, order, left, reason, quantities=quantities, now=now)


def refund_payment(session: Session, payment: Payment, reason: str, now: datetime) -> Refund:
    """Give back a payment that could not be applied (the order had been cancelled or paid already). It is
    not part of the order's paid amount, so the order's refund counters do not move."""
    prov = provider(payment.provider)
    r = Refund(id=new_id(), order_id=payment.order_id, payment_id=payment.id, amount_fen=payment.amount_fen,
               reason=reason, status="succeeded" if prov.settles_refunds_at_once else "pending", return_id=None,
               lines=[], created_at=now, settled_at=now if prov.settles_refunds_at_once else None)
    session.add(r)
    session.flush()
    return r


def settle(session: Session, r: Refund, succeeded: bool, now: datetime) -> None:
    """The provider's answer to a pending refund (idempotent: a settled refund is left alone)."""
    done = affected(session.execute(update(Refund).where(Refund.id == r.id, Refund.status == "pending")
                           .values(status="succeeded" if succeeded else "failed", settled_at=now)))
    if not done:
        return
    payment = session.get(Payment, r.payment_id)
    applied = payment is not None and payment.status == "succeeded"  # a refused payment's refund is not counted
    if succeeded:
        if applied:
            announce(session, r, now)
        return
    if applied:  # give the room back to the order
        session.execute(update(Order).where(Order.id == r.order_id)
                        .values(refunded_fen=Order.refunded_fen - r.amount_fen))
        for x in r.lines:
            session.execute(update(OrderLine).where(OrderLine.id == x["line_id"])
                            .values(refunded_quantity=OrderLine.refunded_quantity - int(x["quantity"])))
    if r.return_id is not None:  # the after-sales request it paid was not paid after all
        session.execute(update(ReturnRequest).where(ReturnRequest.id == r.return_id,
                                                    ReturnRequest.status == "refunded")
                        .values(status="refund_failed"))


def from_provider(session: Session, payment: Payment, amount: int, ref: str, now: datetime) -> str:
    """A refund the provider made on its own, recorded once per ``ref`` (the provider's id of it): against
    the order if the payment was applied (no more than is left to refund), else only recorded (a refused
    payment is not part of the order). ``duplicate`` if ``ref`` was recorded before."""
    if session.scalar(select(Refund.id).where(Refund.payment_id == payment.id, Refund.provider_ref == ref)):
        return "duplicate"
    if payment.status not in ("succeeded", "refused"):
        raise InvalidTransition("The provider refunded a payment Siyu has not seen succeed.",
                                details={"payment_id": payment.id, "status": payment.status})
    applied = payment.status == "succeeded"
    if amount > payment.amount_fen or (applied and not _take(session, payment.order_id, amount)):
        raise RefundTooLarge(details={"order_id": payment.order_id, "amount_fen": amount})
    r = Refund(id=new_id(), order_id=payment.order_id, payment_id=payment.id, amount_fen=amount,
               reason="provider", status="succeeded", return_id=None, lines=[], provider_ref=ref,
               created_at=now, settled_at=now)
    session.add(r)
    session.flush()
    if applied:
        announce(session, r, now)
        close_if_refunded(session, payment.order_id, now)  # _take locked the order's row
    return "refunded"
