"""Seats: taken when an order is paid, given back when a forming group's order is cancelled, and refunded
when a group fails.

Concurrency. Every change to a group starts by taking the group's row lock with a conditional UPDATE
(``SET seats_paid = seats_paid``: PostgreSQL locks the row until commit; SQLite has one writer at a time),
then decides on what it reads under that lock, then changes the group with a second conditional UPDATE
that could not overfill even without the lock (``status = 'forming' AND seats_paid < size AND expires_at >
paid_at``), and the seat number it gives is UNIQUE per group. Lock order is always the group row, then
its members' paid orders (payment handling, cancellation and the expiry sweep all follow it), so they
cannot deadlock on one group. Unpaid orders left in a group that succeeded or failed are cancelled later,
each in a transaction of its own (``drop_unpaid``): a worker transaction holding stock rows never waits for
an order a payment is changing (the payment holds that order, then waits for the stock).

The per-member limit takes a free slot of UNIQUE (rule, person, slot): two payments of one customer in two
groups of a rule racing for the last slot collide there; the loser's transaction fails and the bus
redelivers its event, which then finds no free slot and refunds.

Money. A paid order that gets no seat (the group is full, failed, expired, or the customer's limit is
reached) is cancelled and refunded in full through ``orders.service.cancel``; a failed group's seated
members likewise. Each happens exactly once: a bus event is handled once (the inbox), the group's failure is
a conditional transition (``forming -> failed``) done once, and cancelling an order is itself a conditional
transition, so no order is refunded twice.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.db import affected
from siyu.identity.anchors import constituents
from siyu.orders import repository as orders
from siyu.orders import service as order_service
from siyu.orders.errors import InvalidTransition
from siyu.orders.schemas import Status
from siyu.promotions.groupbuy.events import promo_event
from siyu.promotions.groupbuy.models import GroupBuyGroup, GroupBuyMember
from siyu.promotions.groupbuy.service import get_group, get_rule, member_by_order, members_of, seated_in_group

log = logging.getLogger("siyu.promotions.group_buy")
PAID = (Status.paid, Status.fulfilling)
OPEN = ("opening", "forming")


def lock_group(session: Session, group_id: str) -> GroupBuyGroup:
    """The group, with its row lock held until the transaction ends."""
    session.execute(update(GroupBuyGroup).where(GroupBuyGroup.id == group_id)
                    .values(seats_paid=GroupBuyGroup.seats_paid))
    return get_group(session, group_id)


def _free(taken: set[int | None], upto: int) -> int | None:
    return next((n for n in range(1, upto + 1) if n not in taken), None)


def _set_member(session: Session, member_id: str, expected: str, **values: object) -> bool:
    return bool(affected(session.execute(update(GroupBuyMember).where(
        GroupBuyMember.id == member_id, GroupBuyMember.status == expected).values(**values))))


def _refund(session: Session, order_id: str, reason: str, now: datetime) -> str:
    """Cancel a paid order and refund it in full: ``refunded``; ``gone`` if it was cancelled already (its
    money went back then); ``blocked`` if it is past cancelling (shipped): an operator must refund it."""
    try:
        order_service.cancel(session, order_id, reason, PAID, now=now)
        return "refunded"
    except InvalidTransition:
        if orders.get(session, order_id).status == Status.cancelled:
            return "gone"
        log.warning("group-buy order cannot be cancelled; refund it by hand", extra={"order_id": order_id})
        return "blocked"


def drop_unpaid(session: Session, member_id: str, now: datetime) -> bool:
    """A pending member of a group that succeeded or failed: its order is cancelled (its stock released) if
    still unpaid; one paid meanwhile is left to its payment event, which will find no seat and refund it."""
    m = session.get(GroupBuyMember, member_id, populate_existing=True)
    if m is None or m.status != "pending":
        return False
    reason = "group_full" if get_group(session, m.group_id).status == "succeeded" else "group_failed"
    try:
        order_service.cancel(session, m.order_id, reason, (Status.pending_payment,), now=now)
    except InvalidTransition:
        if orders.get(session, m.order_id).status != Status.cancelled:
            return False
    return _set_member(session, m.id, "pending", status="cancelled", reason=reason, closed_at=now)


def stale_pending(session: Session, limit: int = 500) -> list[str]:
    """Pending members of groups that succeeded or failed (their orders are to be cancelled)."""
    closed = select(GroupBuyGroup.id).where(GroupBuyGroup.status.in_(["succeeded", "failed"]))
    return list(session.scalars(select(GroupBuyMember.id).where(GroupBuyMember.status == "pending",
                                                                GroupBuyMember.group_id.in_(closed))
                                .order_by(GroupBuyMember.id).limit(limit)))


def _refusal(session: Session, g: GroupBuyGroup, m: GroupBuyMember, paid_at: datetime) -> str | None:
    if g.status == "succeeded":
        return "group_full"
    if g.status == "failed":
        return "group_failed"
    if g.expires_at <= paid_at:
        return "group_expired"
    if g.status != ("opening" if m.role == "leader" else "forming"):
        return "group_not_open"
    if g.seats_paid >= g.size:
        return "group_full"
    if seated_in_group(session, g.id, constituents(session, m.person_id)):
        return "already_in_group"
    return None


def refuse(session: Session, m: GroupBuyMember, reason: str, now: datetime) -> None:
    if _set_member(session, m.id, "pending", status="refused", reason=reason, closed_at=now):
        _refund(session, m.order_id, reason, now)


def take_seat(session: Session, order_id: str, paid_at: datetime, now: datetime) -> str | None:
    """The order was paid at ``paid_at``: seat its member, or refuse the payment and refund it. Returns
    ``seated``, the refusal's reason, or None (not a group-buy order, or handled before)."""
    found = member_by_order(session, order_id)
    if found is None or found.status != "pending":
        return None
    g = lock_group(session, found.group_id)
    m = member_by_order(session, order_id)
    assert m is not None
    if m.status != "pending":
        return None
    rule = get_rule(session, g.rule_id)
    reason = _refusal(session, g, m, paid_at)
    slot = seat = None
    if reason is None:
        persons = constituents(session, m.person_id)
        slot = _free(set(session.scalars(select(GroupBuyMember.slot).where(
            GroupBuyMember.rule_id == rule.id, GroupBuyMember.person_id.in_(persons)))), rule.per_member_limit)
        reason = "group_member_limit" if slot is None else None
    if reason is None:
        seat = _free(set(session.scalars(select(GroupBuyMember.seat).where(GroupBuyMember.group_id == g.id))),
                     g.size)
        G = GroupBuyGroup
        if m.role == "leader":
            stmt = update(G).where(G.id == g.id, G.status == "opening", G.seats_paid == 0, G.expires_at > paid_at) \
                .values(status="forming", seats_paid=1, opened_at=paid_at)
        else:
            stmt = update(G).where(G.id == g.id, G.status == "forming", G.seats_paid < G.size, G.expires_at > paid_at) \
                .values(seats_paid=G.seats_paid + 1)
        if seat is None or not affected(session.execute(stmt)):
            reason = "group_full"  # unreachable while the lock holds; the guard if it did not
    if reason is not None:
        refuse(session, m, reason, now)
        return reason
    _set_member(session, m.id, "pending", status="seated", seat=seat, slot=slot, seated_at=paid_at)
    g = get_group(session, g.id)
    promo_event(session, "group_buy.opened" if m.role == "leader" else "group_buy.joined", person_id=m.person_id,
                channel=m.channel, at=paid_at,
                data={"group_id": g.id, "rule_id": g.rule_id, "order_id": order_id, "sku_id": rule.sku_id,
                      "role": m.role, "seat": seat, "seats_paid": g.seats_paid, "size": g.size})
    if g.seats_paid >= g.size:
        succeed(session, g, paid_at, now)
    return "seated"


def succeed(session: Session, g: GroupBuyGroup, at: datetime, now: datetime) -> bool:
    """The group is full: it succeeds (orders still unpaid in it are cancelled by the sweeper)."""
    G = GroupBuyGroup
    if not affected(session.execute(update(G).where(G.id == g.id, G.status == "forming", G.seats_paid >= G.size)
                                    .values(status="succeeded", closed_at=at))):
        return False
    seated = [m for m in members_of(session, g.id) if m.status == "seated"]
    promo_event(session, "group_buy.succeeded", person_id=g.leader_person_id, channel=g.channel, at=at,
                data={"group_id": g.id, "rule_id": g.rule_id, "size": g.size,
                      "order_ids": [m.order_id for m in sorted(seated, key=lambda m: m.seat or 0)]})
    return True


def fail(session: Session, group_id: str, now: datetime) -> bool:
    """The group expired before it filled: it fails (once: a conditional transition), every seated member's
    order is cancelled and refunded in full (unpaid ones are cancelled by the sweeper's next step). Never a
    full group."""
    G = GroupBuyGroup
    if not affected(session.execute(update(G).where(G.id == group_id, G.status.in_(OPEN), G.expires_at <= now,
                                                    G.seats_paid < G.size)
                                    .values(status="failed", closed_at=now))):
        return False
    g = get_group(session, group_id)
    refunded = 0
    for m in members_of(session, group_id):
        if m.status == "seated":
            outcome = _refund(session, m.order_id, "group_failed", now)
            status = {"refunded": "refunded", "gone": "left", "blocked": "refund_blocked"}[outcome]
            _set_member(session, m.id, "seated", status=status, reason="group_failed", slot=None, closed_at=now)
            refunded += outcome == "refunded"
    promo_event(session, "group_buy.failed", person_id=g.leader_person_id, channel=g.channel, at=now,
                data={"group_id": g.id, "rule_id": g.rule_id, "size": g.size, "seats_paid": g.seats_paid,
                      "refunded_orders": refunded})
    return True


def expired(session: Session, now: datetime, limit: int = 500) -> list[str]:
    return list(session.scalars(select(GroupBuyGroup.id).where(GroupBuyGroup.status.in_(OPEN),
                                                               GroupBuyGroup.expires_at <= now)
                                .order_by(GroupBuyGroup.expires_at).limit(limit)))


def release(session: Session, order_id: str, now: datetime) -> None:
    """The order was cancelled (by its customer, an operator or the unpaid timeout). A pending member is
    dropped (a leader's unpaid group never opens); a seated member of a forming group gives its seat back."""
    m = member_by_order(session, order_id)
    if m is None:
        return
    if m.status == "pending":
        _set_member(session, m.id, "pending", status="cancelled", reason="order_cancelled", closed_at=now)
        if m.role == "leader":
            session.execute(update(GroupBuyGroup).where(GroupBuyGroup.id == m.group_id,
                                                        GroupBuyGroup.status == "opening")
                            .values(status="failed", closed_at=now))
        return
    if m.status != "seated":
        return
    g = lock_group(session, m.group_id)
    if g.status == "forming":
        if not _set_member(session, m.id, "seated", status="left", reason="order_cancelled", seat=None, slot=None,
                           closed_at=now):
            return
        session.execute(update(GroupBuyGroup).where(GroupBuyGroup.id == g.id, GroupBuyGroup.status == "forming",
                                                    GroupBuyGroup.seats_paid > 0)
                        .values(seats_paid=GroupBuyGroup.seats_paid - 1))
    else:  # succeeded: the group stays a success; the customer's own cancellation refunded them
        _set_member(session, m.id, "seated", status="left", reason="order_cancelled", slot=None, closed_at=now)
