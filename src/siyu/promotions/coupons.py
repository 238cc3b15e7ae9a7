"""Coupons: templates, issuing (claimed by a member, granted by an operator or another domain), locking for
a checkout, redeeming at payment and rolling back on cancellation or refund.

Concurrency (each a single conditional statement, see models.py):
- issuing: ``issued = issued + 1 WHERE total IS NULL OR issued < total``, then an insert into the next free
  slot of (template, person) below ``per_member_limit`` (a UNIQUE key: concurrent claims by one member
  collide there, and the losing transaction rolls back its count); the coupons a customer holds are
  counted under every identity merged into them (``identity.anchors.constituents``);
- granting to many customers is one transaction: a refusal for any of them issues none;
- locking: ``status = 'locked' WHERE status = 'available' AND person = owner AND still valid``;
- redeeming and releasing: only from ``locked`` by the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from siyu.db import affected, get_or_raise, upsert
from siyu.identity.anchors import constituents
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id
from siyu.orders.models import Order
from siyu.promotions.errors import (
    CouponInUse,
    CouponLimitReached,
    CouponNotFound,
    NotClaimable,
    SoldOut,
    TemplateNotFound,
)
from siyu.promotions.models import Coupon, CouponTemplate
from siyu.promotions.schemas import TemplateIn


def create_template(session: Session, body: TemplateIn) -> CouponTemplate:
    t = CouponTemplate(id=new_id(), issued=0, active=True, created_at=utcnow(), **body.model_dump(mode="json"))
    t.valid_from, t.valid_until = body.valid_from, body.valid_until
    session.add(t)
    session.flush()
    return t


def get_template(session: Session, template_id: str) -> CouponTemplate:
    return get_or_raise(session, CouponTemplate, template_id, TemplateNotFound, "template_id")


def templates(session: Session, claimable_only: bool, now: datetime) -> Sequence[CouponTemplate]:
    q = select(CouponTemplate).where(CouponTemplate.active.is_(True)).order_by(CouponTemplate.created_at)
    if claimable_only:
        q = q.where(CouponTemplate.claimable.is_(True),
                    or_(CouponTemplate.valid_until.is_(None), CouponTemplate.valid_until > now))
    return session.scalars(q).all()


def issue(session: Session, template_id: str, person_id: str, *, source: str, now: datetime,
          channel: str | None = None, source_ref: str | None = None) -> Coupon:
    """Issue one coupon to a person, within the template's total and the per-member limit."""
    t = get_template(session, template_id)
    if not t.active:
        raise NotClaimable(details={"template_id": template_id})
    if not affected(session.execute(
            update(CouponTemplate).where(CouponTemplate.id == template_id,
                                         or_(CouponTemplate.total.is_(None),
                                             CouponTemplate.issued < CouponTemplate.total))
            .values(issued=CouponTemplate.issued + 1))):
        raise SoldOut(details={"template_id": template_id, "total": t.total})
    held = session.scalar(select(func.count()).select_from(Coupon).where(  # under every linked identity
        Coupon.template_id == template_id, Coupon.person_id.in_(constituents(session, person_id)))) or 0
    if held >= t.per_member_limit:
        raise CouponLimitReached(details={"limit": t.per_member_limit})
    start = max(t.valid_from or now, now) if t.valid_days else (t.valid_from or now)
    until = start + timedelta(days=t.valid_days) if t.valid_days else t.valid_until
    if t.valid_days and t.valid_until:
        until = min(until, t.valid_until)  # type: ignore[type-var]
    assert until is not None
    cid = new_id()
    won = session.execute(upsert(session, Coupon).values(
        id=cid, template_id=template_id, person_id=person_id, slot=int(held) + 1, status="available",
        source=source, source_ref=source_ref, channel=channel, issued_at=now, valid_from=start, valid_until=until,
    ).on_conflict_do_nothing().returning(Coupon.id)).first()
    if won is None:  # a concurrent claim by the same person took this slot
        raise CouponLimitReached(details={"limit": t.per_member_limit})
    found = session.get(Coupon, cid)
    assert found is not None
    return found


def has_paid_order(session: Session, person_id: str) -> bool:
    """Whether the customer (every identity merged into them) has ever paid for an order: the same rule as
    the pricing engine's "new members only" check at use."""
    return session.scalar(select(Order.id).where(Order.person_id.in_(constituents(session, person_id)),
                                                 Order.paid_at.is_not(None)).limit(1)) is not None


def claim(session: Session, template_id: str, person_id: str, channel: str, now: datetime,
          tier: str | None) -> Coupon:
    """A member claims a coupon in a channel ("download the APP for this coupon": channels=[app]).

    Refused with ``coupon_not_claimable`` and a ``reason``: ``granted_only`` (not claimable, or inactive),
    ``wrong_channel``, ``wrong_tier`` (``tier`` is not one of the template's), ``not_yet_valid`` (before the
    template's ``valid_from``), ``ended`` (from its ``valid_until``), ``not_a_new_member`` (a new-members-only
    template, and the customer, under any of their linked identities, has a paid order)."""
    t = get_template(session, template_id)
    reason = ("granted_only" if not t.claimable or not t.active
              else "wrong_channel" if t.channels and channel not in t.channels
              else "wrong_tier" if t.tiers and tier not in t.tiers
              else "not_yet_valid" if t.valid_from is not None and now < t.valid_from
              else "ended" if t.valid_until is not None and t.valid_until <= now
              else "not_a_new_member" if t.new_members_only and has_paid_order(session, person_id)
              else None)
    if reason is not None:
        raise NotClaimable(details={"template_id": template_id, "channel": channel, "reason": reason})
    return issue(session, template_id, person_id, source="claim", now=now, channel=channel)


def grant(session: Session, template_id: str, person_ids: Sequence[str], *, now: datetime,
          reason: str) -> list[Coupon]:
    """An operator gives one coupon to each of ``person_ids`` (a person named twice gets two), regardless of
    the claim rules (channel, tier, new members, claimable) but within the template's total and per-member
    limit. All or nothing: the first refusal (``coupons_sold_out``, ``coupon_limit_reached``) raises, and the
    caller's transaction rolls back every coupon issued before it, and its count."""
    return [issue(session, template_id, p, source="grant", now=now, source_ref=reason) for p in person_ids]


def get(session: Session, coupon_id: str) -> Coupon:
    return get_or_raise(session, Coupon, coupon_id, CouponNotFound, "coupon_id")


def of_persons(session: Session, person_ids: Sequence[str], status: str | None) -> Sequence[Coupon]:
    q = select(Coupon).where(Coupon.person_id.in_(person_ids)).order_by(Coupon.issued_at.desc())
    if status:
        q = q.where(Coupon.status == status)
    return session.scalars(q).all()


def lock(session: Session, coupon_ids: Sequence[str], person_ids: Sequence[str], order_id: str, until: datetime,
         now: datetime) -> None:
    """Hold the coupons for an order until ``until`` (its payment deadline)."""
    for cid in coupon_ids:
        done = affected(session.execute(update(Coupon).where(
            Coupon.id == cid, Coupon.status == "available", Coupon.person_id.in_(person_ids),
            Coupon.valid_from <= now, Coupon.valid_until > now,
        ).values(status="locked", locked_order_id=order_id, locked_until=until)))
        if not done:
            raise CouponInUse(details={"coupon_id": cid})


def set_discount(session: Session, coupon_id: str, amount: int) -> None:
    session.execute(update(Coupon).where(Coupon.id == coupon_id).values(discount_fen=amount))


def redeem_for_order(session: Session, order_id: str, now: datetime) -> int:
    """The order was paid: its locked coupons are used."""
    return affected(session.execute(update(Coupon).where(Coupon.locked_order_id == order_id,
                                                         Coupon.status == "locked")
                                    .values(status="redeemed", redeemed_order_id=order_id, redeemed_at=now)))


def release_for_order(session: Session, order_id: str) -> int:
    """The order was cancelled or refunded in full: its coupons (locked or used) are available again."""
    return affected(session.execute(update(Coupon).where(
        or_(Coupon.locked_order_id == order_id, Coupon.redeemed_order_id == order_id),
        Coupon.status.in_(["locked", "redeemed"]),
    ).values(status="available", locked_order_id=None, locked_until=None, redeemed_order_id=None,
             redeemed_at=None, discount_fen=None)))


def coupon_ids(session: Session, order_id: str) -> list[str]:
    """The coupons an order holds (locked) or used."""
    return list(session.scalars(select(Coupon.id).where(
        or_(Coupon.locked_order_id == order_id, Coupon.redeemed_order_id == order_id)).order_by(Coupon.id)))
