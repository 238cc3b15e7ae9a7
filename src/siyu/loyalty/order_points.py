"""Points paying part of an order: the spend and its redemption row, shared by checkout (points in
``OrderCreate``, ``orders.service.create``) and ``POST /loyalty/orders/{id}/points`` (``redemptions.pay_order``).

The spend goes through ``points.spend`` (the member lock; a conditional UPDATE that never takes the balance
below zero: :class:`InsufficientPoints` otherwise) in the caller's transaction, so the order's discount and
the spend commit together or not at all. The redemption row (``item_id`` None) is what gives the points back:
all of them when the order is cancelled or refunded in full, its lines' share when some of its units are
refunded (``redemptions.give_back_share``).

This module imports nothing of orders, so orders may call it (``redemptions`` imports ``orders.service``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit.ids import new_id
from siyu.loyalty import events, members
from siyu.loyalty.errors import NotAMember
from siyu.loyalty.models import Member, Redemption
from siyu.loyalty.points import spend


def member_of(session: Session, person_id: str) -> Member:
    """The member whose points pay (a read: call it before the transaction's first write)."""
    m = members.find(session, person_id)
    if m is None:
        raise NotAMember(details={"person_id": person_id})
    return m


def spend_on_order(session: Session, m: Member, order_id: str, pts: int, discount_fen: int, channel: str,
                   now: datetime) -> Redemption:
    """Spend ``pts`` of the member's points on the order (``discount_fen`` off it) and record the redemption."""
    n = session.scalar(select(func.count()).select_from(Redemption).where(Redemption.order_id == order_id))
    entry = spend(session, m.id, pts, key=f"order-points:{order_id}:{n}", now=now, ref=order_id,
                  reason="paid an order", channel=channel, kind="redeem")
    r = Redemption(id=new_id(), member_id=m.id, item_id=None, order_id=order_id, quantity=1, points=pts,
                   cash_fen=0, status="completed", channel=channel, entry_id=entry.id, created_at=now,
                   points_returned=0)
    session.add(r)
    session.flush()
    events.member_event(session, m, "loyalty.points_redeemed", channel,
                        {"points": pts, "order_id": order_id, "discount_fen": discount_fen}, now)
    return r
