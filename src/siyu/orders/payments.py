"""Payments: opening one, and settling it (by an operator for ``manual``, by a signed callback for
``webhook``).

A successful payment is applied with one conditional UPDATE: ``pending_payment -> paid`` only while the
reservation holds (``reserve_expires_at > now``). If it does not apply — the unpaid timeout released the
stock first, the customer cancelled, or another payment got there first — the payment is refused and
refunded in full: a late payment never turns into an oversold order. A success reported after the provider
said the payment failed (a retry of the provider's, or a late settlement) is such a late payment: the money
did arrive, so it is applied if the order can still take it, else refused and refunded; a failure is never
final for money. Settling is idempotent: a payment that succeeded or was refused is left as it is (the
callback holds the payment's row lock, and each status change is conditional on the status it read), and
each callback id is handled once. A ``payment.refunded`` callback is a refund the provider made on its own
(:func:`siyu.orders.refunds.from_provider`), recorded once per provider refund id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.catalog import stock
from siyu.db import affected
from siyu.identity.anchors import event_anchor
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id
from siyu.orders import refunds
from siyu.orders.errors import AmountMismatch, InvalidTransition, PaymentNotFound
from siyu.orders.events import order_event
from siyu.orders.models import Order, OrderLine, Payment, Refund
from siyu.orders.providers import provider
from siyu.orders.repository import get, lines_of, transition
from siyu.orders.schemas import Status, WebhookEvent
from siyu.orders.service import cancel
from siyu.outbox.service import first_delivery
from siyu.promotions import coupons


def open_payment(session: Session, order: Order, provider_name: str, reference: str | None,
                 now: datetime | None = None) -> Payment:
    """Start paying an order. ``manual`` is confirmed at once (the caller vouches for the money);
    ``webhook`` opens a pending payment whose reference the provider will call back with."""
    prov = provider(provider_name)
    now = now or utcnow()
    if order.status != Status.pending_payment:
        raise InvalidTransition(details={"order_id": order.id, "status": order.status})
    # Settled at once: what settling reads is read before the first write (on SQLite the write lock is held
    # from the first write to the commit).
    known = None if prov.opens_pending else (lines_of(session, order.id), event_anchor(session, order.person_id))
    payment = Payment(id=new_id(), order_id=order.id, provider=prov.name, provider_ref=reference or new_id(),
                      amount_fen=order.total_fen, currency=order.currency, status="pending", created_at=now)
    session.add(payment)
    session.flush()
    if known is not None:
        succeed(session, payment, order.total_fen, now, order, *known)
        if payment.status != "succeeded":
            raise InvalidTransition("The order could not take this payment (its reservation ran out or it was "
                                    "cancelled or paid meanwhile).", details={"order_id": order.id})
    return payment


UNSETTLED = ("pending", "failed")  # a payment the provider may still report succeeded


def succeed(session: Session, payment: Payment, amount: int, now: datetime, order: Order | None = None,
            lines: Sequence[OrderLine] | None = None, anchor: tuple[str, str] | None = None) -> None:
    """The money arrived. Apply it to the order, or refuse and refund it. ``order``, its ``lines`` and its
    person's event ``anchor``: as the caller read them in this transaction. A payment reported ``failed``
    before is settled like a pending one (the provider succeeded after all); one that succeeded or was
    refused already is left alone (the caller holds its row lock)."""
    if payment.status not in UNSETTLED:
        return
    order = order if order is not None else get(session, payment.order_id)
    if order.status == Status.pending_payment and order.reserve_expires_at is not None \
            and order.reserve_expires_at <= now:
        cancel(session, order.id, "payment_timeout", (Status.pending_payment,), now=now)
    applied = amount == order.total_fen and transition(
        session, order.id, (Status.pending_payment,), Status.paid, paid_fen=amount, paid_at=now,
        reserve_expires_at=None)
    if applied:
        lines = lines if lines is not None else lines_of(session, order.id)
        if not affected(session.execute(update(Payment).where(Payment.id == payment.id,
                                                              Payment.status.in_(UNSETTLED))
                                        .values(status="succeeded", settled_at=now))):
            raise RuntimeError(f"payment {payment.id} settled by another despite its row lock")  # rolls back
        coupons.redeem_for_order(session, order.id, now)
        # the transition's UPDATE brought the order object in the session up to date (an ORM UPDATE
        # synchronises the objects it matches); read it again only if it did not
        paid = order if order.status == Status.paid and order.paid_at == now else get(session, order.id)
        order_event(session, paid, "orders.paid", lines, at=now, anchor=anchor,
                    extra={"payment_id": payment.id, "provider": payment.provider})
        # Stock last: every order of a SKU updates its stock row, whose lock is held until the commit.
        for ln in lines:
            if ln.sku_id and ln.location_id:
                stock.deduct(session, ln.sku_id, ln.location_id, ln.quantity)
        return
    if not affected(session.execute(update(Payment).where(Payment.id == payment.id, Payment.status.in_(UNSETTLED))
                                    .values(status="refused", amount_fen=amount, settled_at=now))):
        return  # another callback settled it (its row lock makes this unreachable): refunded there
    session.refresh(payment)
    reason = "amount_mismatch" if amount != order.total_fen else f"order_{get(session, order.id).status}"
    refunds.refund_payment(session, payment, reason, now)
    order_event(session, get(session, order.id), "orders.payment_refused", [], amount_fen=amount, at=now,
                extra={"payment_id": payment.id, "reason": reason})


def fail(session: Session, payment: Payment, now: datetime) -> None:
    session.execute(update(Payment).where(Payment.id == payment.id, Payment.status == "pending")
                    .values(status="failed", settled_at=now))


def handle_callback(session: Session, event: WebhookEvent, now: datetime | None = None) -> str:
    """One verified provider callback; returns what happened (for the answer). Each callback id is
    handled once; a retried callback answers ``duplicate``."""
    now = now or utcnow()
    if not first_delivery(session, "payment-webhook", event.id):
        return "duplicate"
    if event.type.startswith("payment."):
        if event.data.payment_ref is None:
            raise PaymentNotFound("A payment callback needs data.payment_ref.")
        payment = session.scalar(select(Payment).where(Payment.provider == "webhook",
                                                       Payment.provider_ref == event.data.payment_ref)
                                 .with_for_update())
        if payment is None:
            raise PaymentNotFound(details={"payment_ref": event.data.payment_ref})
        if event.type == "payment.failed":
            fail(session, payment, now)  # a payment settled already stays as it is
            return str(session.get(Payment, payment.id, populate_existing=True).status)  # type: ignore[union-attr]
        if event.type == "payment.refunded":
            assert event.data.amount_fen is not None and event.data.refund_ref is not None  # the schema checks
            return refunds.from_provider(session, payment, event.data.amount_fen, event.data.refund_ref, now)
        if event.data.amount_fen is None:
            raise AmountMismatch("A payment.succeeded callback needs amount_fen.")
        succeed(session, payment, event.data.amount_fen, now)
        return str(session.get(Payment, payment.id, populate_existing=True).status)  # type: ignore[union-attr]
    r = session.get(Refund, event.data.refund_id) if event.data.refund_id else None
    if r is None:
        raise PaymentNotFound("No such refund.", details={"refund_id": event.data.refund_id})
    refunds.settle(session, r, event.type == "refund.succeeded", now)
    return str(session.get(Refund, r.id, populate_existing=True).status)  # type: ignore[union-attr]
