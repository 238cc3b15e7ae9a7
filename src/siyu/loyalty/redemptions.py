"""Spending points: as part-payment of an order, or in the points mall.

Both spend through ``points.spend`` (the member lock; never below zero) in the same transaction as their
effect (the order's discount, the mall item's stock, a coupon item's coupons), so either all happen or
none: a coupon its template cannot issue (sold out, the per-member limit) refuses the whole redemption. A
mall item's stock is one conditional UPDATE (``stock >= n``); its per-member limit is counted under the
member lock (redemptions completed or awaiting their money), so concurrent redemptions by one member cannot
pass it. A points-plus-money item waits for the order that pays its money (``mall_orders.py``).

Giving back (the order cancelled or refunded in full, a points-plus-money redemption never ordered) happens
once: under the member lock, one conditional UPDATE moves the redemption from ``completed`` or
``awaiting_payment`` to ``reversed``, and only the transaction that made that change restores the points
(into the lots they came from) and the item's stock. A replayed event, or an order's cancellation racing the
sweeper, gives nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from siyu.db import affected
from siyu.identity.anchors import constituents
from siyu.kit.ids import new_id
from siyu.loyalty import events, order_points, program
from siyu.loyalty.errors import ItemNotFound, ItemUnavailable, LimitReached, RedemptionRefused, TierRequired
from siyu.loyalty.models import MallItem, Member, PointEntry, Redemption
from siyu.loyalty.points import lock, restore, spend
from siyu.loyalty.schemas import MallKind
from siyu.orders import policy as order_policy
from siyu.orders import repository as order_rows
from siyu.orders import service as orders
from siyu.promotions import coupons

OPEN = ("completed", "awaiting_payment")  # redemptions that hold points (and count towards per-member limits)


def pay_order(session: Session, m: Member, order_id: str, pts: int, channel: str, now: datetime) -> Redemption:
    """Pay part of an unpaid order with points, by ``program.points_payment`` (the rule checkout uses):
    refused, not clamped, when the points are not whole fen, below the minimum or over the cap."""
    rule = program.load(session).redemption
    if pts < rule.min_points or (pts * 100) % rule.points_per_yuan:
        raise RedemptionRefused("Points pay whole fen at the programme's rate, above its minimum.",
                                details={"min_points": rule.min_points, "points_per_yuan": rule.points_per_yuan})
    lock(session, m.id)
    order = orders.apply_points_discount(session, order_id, constituents(session, m.person_id), pts, rule)
    return order_points.spend_on_order(session, m, order.id, pts, pts * 100 // rule.points_per_yuan, channel, now)


def redeem_item(session: Session, m: Member, item_id: str, quantity: int, channel: str, now: datetime,
                key: str) -> Redemption:
    """Redeem a mall item for points. Goods are then fulfilled by the brand; a coupon item issues ``quantity``
    coupons of its template to the member's person; a points-plus-money item holds its points and stock
    (``awaiting_payment``) until an order pays its money, within the order policy's unpaid timeout."""
    lock(session, m.id)
    item = session.get(MallItem, item_id)
    if item is None:
        raise ItemNotFound(details={"item_id": item_id})
    if not item.active or (item.cash_fen and (item.kind != MallKind.goods.value or item.sku_id is None)):
        raise ItemUnavailable(details={"item_id": item_id})
    ladder = program.ladder(session)
    if item.min_tier and ladder.rank(m.tier) < ladder.rank(item.min_tier):
        raise TierRequired(details={"tier": item.min_tier})
    if item.per_member_limit is not None:
        had = session.scalar(select(func.coalesce(func.sum(Redemption.quantity), 0)).where(
            Redemption.member_id == m.id, Redemption.item_id == item_id, Redemption.status.in_(OPEN))) or 0
        if had + quantity > item.per_member_limit:
            raise LimitReached(details={"limit": item.per_member_limit, "redeemed": int(had)})
    if item.stock is not None and not affected(session.execute(
            update(MallItem).where(MallItem.id == item_id, MallItem.stock >= quantity)
            .values(stock=MallItem.stock - quantity))):
        raise ItemUnavailable("Out of stock.", details={"item_id": item_id})
    entry = spend(session, m.id, item.points * quantity, key=f"mall:{key}", now=now, ref=item_id,
                  reason=f"points mall: {item.title}", channel=channel, kind="redeem")
    cash = item.cash_fen * quantity
    pay_by = now + timedelta(minutes=order_policy.policy(session).unpaid_timeout_minutes) if cash else None
    r = Redemption(id=new_id(), member_id=m.id, item_id=item_id, order_id=None, quantity=quantity,
                   points=item.points * quantity, cash_fen=cash, status="awaiting_payment" if cash else "completed",
                   channel=channel, entry_id=entry.id, created_at=now, expires_at=pay_by)
    session.add(r)
    session.flush()
    if item.kind == MallKind.coupon.value and item.coupon_template_id:
        for _ in range(quantity):
            coupons.issue(session, item.coupon_template_id, m.person_id, source="mall", now=now, channel=channel,
                          source_ref=r.id)
    events.member_event(session, m, "loyalty.points_redeemed", channel,
                        {"points": r.points, "item_id": item_id, "item": item.title, "quantity": quantity,
                         "cash_fen": cash}, now)
    return r


def reverse(session: Session, r: Redemption, now: datetime, reason: str, *only_if: ColumnElement[bool]) -> bool:
    """Give back a redemption's points and its item's stock, once (see above); ``only_if``: further conditions
    the redemption's row must meet. False if it was given back before (or the conditions do not hold)."""
    lock(session, r.member_id)
    if not affected(session.execute(update(Redemption).where(Redemption.id == r.id, Redemption.status.in_(OPEN),
                                                             *only_if).values(status="reversed"))):
        return False
    entry = session.get(PointEntry, r.entry_id)
    assert entry is not None
    returned = int(session.scalar(select(Redemption.points_returned).where(Redemption.id == r.id)) or 0)
    restore(session, entry, key=f"restore:{r.id}", now=now, reason=reason, skip=returned,
            amount=r.points - returned)
    if r.item_id is not None:
        session.execute(update(MallItem).where(MallItem.id == r.item_id, MallItem.stock.is_not(None))
                        .values(stock=MallItem.stock + r.quantity))
    session.flush()
    return True


def reverse_for_order(session: Session, order_id: str, now: datetime) -> int:
    """The order was cancelled (or refunded in full): the points that paid for it come back, and a
    points-plus-money redemption it was paying for (points and stock). Idempotent."""
    found: Sequence[Redemption] = session.scalars(select(Redemption).where(Redemption.order_id == order_id,
                                                                          Redemption.status.in_(OPEN))).all()
    return sum(reverse(session, r, now, f"order {order_id} cancelled") for r in found)


def give_back_share(session: Session, order_id: str, refunded_fen: int, now: datetime) -> int:
    """Units of an order partly paid with points were refunded: give back the points of their share.
    ``refunded_fen``: the points share (fen) of every settled refund of the order so far; the points due are
    that share of the points the order's open redemptions spent (rounded down, so all of them once the whole
    points discount is refunded), less what was given back already. Under each member's lock, one
    conditional UPDATE of ``points_returned`` per redemption (never above its points, never once reversed),
    then its points back into the lots they came from (``points.restore``, keyed by the redemption and how
    much of it was given back before). Returns the points given back; a replayed or late event gives nothing
    twice (the target is cumulative)."""
    order = order_rows.get(session, order_id)
    found = session.scalars(select(Redemption).where(Redemption.order_id == order_id, Redemption.item_id.is_(None),
                                                     Redemption.status.in_(OPEN))
                            .order_by(Redemption.created_at, Redemption.id)).all()
    if not found or order.points_discount_fen <= 0 or refunded_fen <= 0:
        return 0
    for member_id in sorted({r.member_id for r in found}):
        lock(session, member_id)
    for r in found:
        session.refresh(r)
    spent = sum(r.points for r in found)
    due = spent * min(refunded_fen, order.points_discount_fen) // order.points_discount_fen \
        - sum(r.points_returned for r in found)
    given = 0
    for r in found:
        before = r.points_returned  # (the UPDATE below moves the loaded attribute too)
        take = min(due - given, r.points - before)
        if take <= 0 or r.status not in OPEN:
            continue
        if not affected(session.execute(update(Redemption).where(
                Redemption.id == r.id, Redemption.status.in_(OPEN), Redemption.points_returned + take <= r.points)
                .values(points_returned=Redemption.points_returned + take))):
            continue  # not reachable under the member lock
        entry = session.get(PointEntry, r.entry_id)
        assert entry is not None
        restore(session, entry, key=f"restore:{r.id}:{before}", now=now,
                reason=f"order {order_id} partly refunded", skip=before, amount=take)
        given += take
    session.flush()
    return given


def of_member(session: Session, member_id: str, limit: int) -> Sequence[Redemption]:
    """The member's redemptions, newest first."""
    return session.scalars(select(Redemption).where(Redemption.member_id == member_id)
                           .order_by(Redemption.created_at.desc(), Redemption.id.desc()).limit(limit)).all()
