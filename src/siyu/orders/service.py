"""Orders: creation (prices from the channel listing, stock reserved), cancellation and the unpaid timeout."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.catalog import service as catalog
from siyu.catalog import stock
from siyu.catalog.models import Location
from siyu.db import affected
from siyu.identity.anchors import constituents, event_anchor
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id
from siyu.loyalty import order_points, program
from siyu.loyalty.schemas import Redemption as RedemptionRule
from siyu.orders import refunds, unshipped
from siyu.orders.errors import (
    AddressRequired,
    NotYourOrder,
    PickupStoreRequired,
    PointsNotApplicable,
    PriceNotAccepted,
)
from siyu.orders.events import order_event
from siyu.orders.models import Order, OrderLine, Payment
from siyu.orders.policy import policy
from siyu.orders.repository import get, lines_of, require_from
from siyu.orders.schemas import Fulfilment, OrderCreate, Status
from siyu.orders.views import Placed
from siyu.promotions import coupons, pricing, specials
from siyu.promotions.errors import CouponNotUsable

OPEN_FOR_CUSTOMER_CANCEL = (Status.pending_payment, Status.paid)
OPEN_FOR_OPERATOR_CANCEL = (Status.pending_payment, Status.paid, Status.fulfilling)


def _reject_prices(body: OrderCreate) -> None:
    if body.total_fen is not None or any(ln.unit_price_fen is not None or ln.price is not None for ln in body.lines):
        raise PriceNotAccepted()


def create(session: Session, body: OrderCreate, person_id: str, now: datetime | None = None) -> tuple[Order, Placed]:
    """Price the cart with the pricing engine (listing prices now, tier discount, coupons, shipping, points),
    spend its points (``loyalty.order_points``: refused in full if the balance is short), lock its coupons and
    reserve its stock until the payment deadline, and open the order for payment."""
    _reject_prices(body)
    now = now or utcnow()
    pickup = body.fulfilment is Fulfilment.pickup
    if pickup:
        loc = session.get(Location, body.pickup_location_id) if body.pickup_location_id else None
        if loc is None or not loc.pickup:
            raise PickupStoreRequired(details={"pickup_location_id": body.pickup_location_id})
    elif body.address is None:
        raise AddressRequired()
    cart = pricing.Cart(
        channel=body.channel.value, person_id=person_id,
        lines=[(ln.sku_id if ln.sku_id is not None else catalog.sku_by_code(session, str(ln.sku_code)).id,
                ln.quantity) for ln in body.lines],
        coupons=list(body.coupons), promotion=(body.promotion.kind, body.promotion.id) if body.promotion else None,
        pickup=pickup, points=body.points)
    priced = pricing.price(session, cart, now)
    q = priced.quote
    if q.coupons_rejected:
        bad = q.coupons_rejected[0]
        raise CouponNotUsable(bad.message, details={"coupon_id": bad.coupon_id, "reason": bad.code,
                                                    "rejected": [r.model_dump() for r in q.coupons_rejected]})
    pol = policy(session)
    deadline = now + timedelta(minutes=pol.unpaid_timeout_minutes)
    # Read before the first write: on SQLite the write lock is held from the first write to the commit.
    anchor = event_anchor(session, person_id)
    payer = order_points.member_of(session, person_id) if q.points else None
    order = Order(
        id=new_id(), person_id=person_id, channel=body.channel.value, status=Status.pending_payment.value,
        fulfilment=body.fulfilment.value, pickup_location_id=body.pickup_location_id if pickup else None,
        address=body.address.model_dump() if body.address else None, currency=q.currency,
        subtotal_fen=q.subtotal_fen, discount_fen=q.tier_discount_fen + q.coupon_discount_fen + q.points_discount_fen,
        points_discount_fen=q.points_discount_fen, shipping_fen=q.shipping_fen, total_fen=q.total_fen, paid_fen=0,
        refunded_fen=0,
        note=body.note, reserve_expires_at=deadline, created_at=now, pickup_attempts=0,
        promotion_kind=body.promotion.kind if body.promotion else None,
        promotion_id=body.promotion.id if body.promotion else None,
    )
    session.add(order)
    session.flush()
    if payer is not None:  # the member lock, then the spend: too few points refuse the whole order
        order_points.spend_on_order(session, payer, order.id, q.points, q.points_discount_fen, order.channel, now)
    coupons.lock(session, q.coupons_applied, constituents(session, person_id), order.id, deadline, now)
    for cid, amount in priced.coupon_discounts.items():
        coupons.set_discount(session, cid, amount)
    lines = [OrderLine(id=new_id(), order_id=order.id, sku_id=ln.sku_id, sku_code=ln.sku_code,
                       product_id=ln.product_id, title=ln.title, quantity=ln.quantity,
                       unit_price_fen=ln.unit_price_fen, total_fen=ln.amount, discount_fen=ln.discount_fen,
                       points_fen=ln.points_fen, refunded_quantity=0) for ln in priced.lines]
    order_event(session, order, "orders.created", lines, at=now, anchor=anchor)
    # Stock as late as possible: every order of a SKU updates its stock row, whose lock is held until the
    # commit (the event above is written before the first reservation).
    for line, priced_line in zip(lines, priced.lines, strict=True):
        line.location_id = stock.reserve(session, priced_line.sku_id, line.quantity,
                                         body.pickup_location_id if pickup else None)
    session.add_all(lines)
    session.flush()
    if body.promotion is not None:
        specials.attach(session, body.promotion.kind, body.promotion.id, order.id, person_id, now)
    return order, Placed(lines, list(q.coupons_applied))


def release_reservations(session: Session, lines: Sequence[OrderLine]) -> None:
    for ln in lines:
        if ln.sku_id and ln.location_id:
            stock.release(session, ln.sku_id, ln.location_id, ln.quantity)


def cancel(session: Session, order_id: str, reason: str, allowed: Sequence[str] = OPEN_FOR_OPERATOR_CANCEL,
           now: datetime | None = None) -> Order:
    """Cancel an order. Unpaid: its reservation is released. Paid (not yet shipped): its units not back in
    stock yet go back (``unshipped.every_unit``, under the order row's lock the status change took) and
    what is left of its money is refunded."""
    now = now or utcnow()
    unpaid = [s for s in allowed if s == Status.pending_payment]
    order, group = require_from(session, order_id, (unpaid, [s for s in allowed if s not in unpaid]),
                                Status.cancelled, cancelled_at=now, cancel_reason=reason[:64])
    lines = lines_of(session, order_id)
    coupons.release_for_order(session, order_id)  # litemall #163: a cancelled order's coupon comes back
    if group == 0:
        release_reservations(session, lines)
    else:
        unshipped.every_unit(session, order_id)
        refunds.refund_remaining(session, order, reason="order_cancelled", now=now)
    order_event(session, get(session, order_id), "orders.cancelled", lines, extra={"reason": reason}, at=now)
    return get(session, order_id)


def expired_unpaid(session: Session, now: datetime, limit: int = 500) -> list[str]:
    return list(session.scalars(select(Order.id).where(Order.status == Status.pending_payment.value,
                                                       Order.reserve_expires_at <= now)
                                .order_by(Order.reserve_expires_at).limit(limit)))


def apply_points_discount(session: Session, order_id: str, person_ids: Sequence[str], points: int,
                          rule: RedemptionRule) -> Order:
    """Take what ``points`` pay off an unpaid order (loyalty calls this in the transaction that spends them),
    by ``program.points_payment``, the rule the pricing engine applies at checkout: only before any payment
    is opened (a provider would charge the old total), and refused (not clamped) beyond the cap, a share of
    the goods after discounts (shipping excluded) counting what points paid already. The order's points
    discount is then allocated over its lines again, as checkout does."""
    order = get(session, order_id)
    if order.person_id not in person_ids:
        raise NotYourOrder(details={"order_id": order_id})
    opened = session.scalar(select(Payment.id).where(Payment.order_id == order_id).limit(1))
    goods = order.subtotal_fen - (order.discount_fen - order.points_discount_fen)
    cap = program.points_cap_fen(rule, goods)
    used, discount_fen = program.points_payment(rule, goods, points, order.points_discount_fen)
    if order.status != Status.pending_payment or opened is not None or used != points or discount_fen <= 0:
        raise PointsNotApplicable(details={"order_id": order_id, "status": order.status, "max_fen": cap,
                                           "payment_opened": opened is not None})
    # the cap again in the UPDATE: two spends racing for one order both read the order before either wrote
    stmt = (update(Order).where(Order.id == order_id, Order.status == Status.pending_payment.value,
                                Order.total_fen >= discount_fen, Order.points_discount_fen <= cap - discount_fen)
            .values(discount_fen=Order.discount_fen + discount_fen,
                    points_discount_fen=Order.points_discount_fen + discount_fen,
                    total_fen=Order.total_fen - discount_fen))
    if not affected(session.execute(stmt)):
        raise PointsNotApplicable(details={"order_id": order_id})
    order = get(session, order_id)
    lines = lines_of(session, order_id)
    for ln, share in zip(lines, pricing.allocate(order.points_discount_fen,
                                                 [ln.total_fen - ln.discount_fen for ln in lines]), strict=True):
        ln.points_fen = share
    session.flush()
    return order
