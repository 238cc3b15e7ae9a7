"""Referral rewards, from bus events (``consumer.py``), each exactly once.

Triggers: ``signup`` when a bound invitee joins the membership programme (``loyalty.joined``), or is bound
after joining (``referral.bound``); ``first_purchase`` for the first paid order after binding (the referral
records that order's id by a conditional UPDATE, so two orders cannot both be first); ``every_purchase``
for each paid order after binding. Orders below ``min_order_fen`` trigger nothing.

Exactly once: a reward is keyed (referral, trigger, ref = "signup" or the order id, beneficiary) UNIQUE,
and the points carry the idempotency key ``referral:<reward id>``. Concurrency: every grant first locks the
ledger head (``ledger.lock``), so grants are serialised: the referrer's caps (per calendar month in the
programme's time zone, and in total), counted from granted rewards under that lock, cannot be passed by
concurrent events. Lock order, everywhere: the ledger head, then the referral's row, then member and coupon
rows (so two workers handling events of the same referrals cannot deadlock).

A referral whose two sides have become one customer since binding (identities merged) is voided and
rewards nothing more.

Refunds: rewards are not clawed back. A purchase reward was earned by a paid order; refunding it later
leaves the reward and its ledger entry as they are (the ledger is append-only). Operators who need to
take points back adjust them in loyalty; ``min_order_fen`` and the caps bound what refund abuse can gain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.db import affected, upsert
from siyu.errors import SiyuError
from siyu.identity.anchors import constituents
from siyu.identity.service import current
from siyu.kit.clock import iso
from siyu.kit.ids import new_id
from siyu.loyalty import members
from siyu.loyalty import program as loyalty_program
from siyu.loyalty.points import earn
from siyu.promotions import coupons
from siyu.promotions.referral import ledger, program, service
from siyu.promotions.referral.models import Referral, ReferralReward
from siyu.promotions.referral.schemas import Grant, ProgramIn, Trigger


def on_joined(session: Session, person_id: str, event_id: str, at: datetime) -> None:
    r = service.referral_of(session, person_id)
    if r is not None:
        _fire(session, program.load(session), r, Trigger.signup, "signup", event_id, at)


def on_bound(session: Session, referral_id: str, event_id: str, at: datetime) -> None:
    r = session.get(Referral, referral_id)
    if r is not None and members.find(session, r.invitee_person_id) is not None:
        _fire(session, program.load(session), r, Trigger.signup, "signup", event_id, at)


def on_paid(session: Session, person_id: str, order_id: str, total_fen: int, event_id: str, at: datetime) -> None:
    r = service.referral_of(session, person_id)
    prog = program.load(session)
    if r is None or at < r.bound_at or total_fen < prog.min_order_fen or r.status != "active":
        return
    ledger.lock(session, at)  # before the referral's row: the one lock order (see the module docstring)
    first = affected(session.execute(update(Referral).where(Referral.id == r.id, Referral.first_order_id.is_(None))
                                     .values(first_order_id=order_id),
                                     execution_options={"synchronize_session": False}))
    session.refresh(r)
    if first or r.first_order_id == order_id:
        _fire(session, prog, r, Trigger.first_purchase, order_id, event_id, at)
    _fire(session, prog, r, Trigger.every_purchase, order_id, event_id, at)


def _fire(session: Session, prog: ProgramIn, r: Referral, trigger: Trigger, ref: str, event_id: str,
          at: datetime) -> None:
    rule = prog.rewards.get(trigger)
    if rule is None or r.status != "active":
        return
    ledger.lock(session, at)
    if service.same_customer(session, r.referrer_person_id, r.invitee_person_id):
        r.status, r.void_reason = "void", "same_customer"
        session.flush()
        return
    for side, grant, person in (("invitee", rule.invitee, r.invitee_person_id),
                                ("referrer", rule.referrer, r.referrer_person_id)):
        if grant.points or grant.coupon_template_id:
            _grant(session, prog, r, trigger, ref, side, grant, current(session, person), event_id, at)


def _grant(session: Session, prog: ProgramIn, r: Referral, trigger: Trigger, ref: str, side: str, grant: Grant,
           person: str, event_id: str, at: datetime) -> None:
    """One side's reward (the ledger head is locked: grants are serialised, see the module docstring)."""
    rid = new_id()
    won = session.execute(upsert(session, ReferralReward).values(
        id=rid, referral_id=r.id, trigger=trigger.value, ref=ref, beneficiary=side, person_id=person,
        status="pending", points=0, coupon_template_id=grant.coupon_template_id, coupon_id=None, note="",
        source_event=event_id[:64], ledger_seq=None, at=at,
    ).on_conflict_do_nothing().returning(ReferralReward.id)).first()
    if won is None:
        return  # given before (a redelivered or repeated event)
    reward = session.get(ReferralReward, rid)
    assert reward is not None
    if side == "referrer" and (why := _capped(session, prog, person, at)):
        reward.status, reward.note = "capped", why
        session.flush()
        return
    notes: list[str] = []
    if grant.points:
        m = members.find(session, person)
        if m is None:
            notes.append("points: not a member")
        else:
            expiry = loyalty_program.load(session).points_expiry_days
            earn(session, m.id, grant.points, key=f"referral:{rid}", source_kind="referral", source_id=r.id,
                 now=at, expiry_days=expiry, reason=f"referral {trigger.value} ({side})")
            reward.points = grant.points
    if grant.coupon_template_id:
        try:
            with session.begin_nested():  # a refused issue leaves no trace (its count is rolled back)
                coupon = coupons.issue(session, grant.coupon_template_id, person, source="referral", now=at,
                                       source_ref=rid)
            reward.coupon_id = coupon.id
        except SiyuError as exc:
            notes.append(f"coupon: {exc.code}")
    reward.note = "; ".join(notes)[:200]
    reward.status = "granted" if reward.points or reward.coupon_id else "nothing"
    if reward.status == "granted":
        reward.ledger_seq = ledger.append(session, payload(reward, r, at), at).seq
    session.flush()


def payload(reward: ReferralReward, r: Referral, at: datetime) -> dict[str, Any]:
    """What a ledger entry records of a reward (canonical JSON of this is hashed)."""
    return {"reward_id": reward.id, "referral_id": r.id, "trigger": reward.trigger, "beneficiary": reward.beneficiary,
            "person_id": reward.person_id, "referrer_person_id": r.referrer_person_id,
            "invitee_person_id": r.invitee_person_id, "points": reward.points,
            "coupon_template_id": reward.coupon_template_id if reward.coupon_id else None,
            "coupon_id": reward.coupon_id, "order_id": None if reward.ref == "signup" else reward.ref,
            "source_event": reward.source_event, "at": iso(at)}


def _capped(session: Session, prog: ProgramIn, person: str, at: datetime) -> str | None:
    """Why the referrer gets nothing more (a cap is reached), counted under the ledger head lock."""
    if not prog.referrer_monthly_cap and not prog.referrer_total_cap:
        return None
    given = select(func.count()).select_from(ReferralReward).where(
        ReferralReward.person_id.in_(constituents(session, person)), ReferralReward.beneficiary == "referrer",
        ReferralReward.status == "granted")
    if prog.referrer_total_cap and (session.scalar(given) or 0) >= prog.referrer_total_cap:
        return "total cap reached"
    if prog.referrer_monthly_cap:
        local = at.astimezone(ZoneInfo(prog.timezone))
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if (session.scalar(given.where(ReferralReward.at >= start)) or 0) >= prog.referrer_monthly_cap:
            return "monthly cap reached"
    return None
