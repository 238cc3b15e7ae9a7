from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from siyu.deps import IdempotencyKey, OperatorDep, PrincipalDep, SessionDep, claim_idempotency, remember_answer
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id
from siyu.loyalty import checkin, members, program, redemptions
from siyu.loyalty.access import member_for, person_for
from siyu.loyalty.models import PointEntry
from siyu.loyalty.points import adjust, spend
from siyu.loyalty.schemas import (
    AdjustRequest,
    CheckInOut,
    CheckInRequest,
    EntryOut,
    JoinRequest,
    LedgerPage,
    MemberOut,
    OrderPointsOut,
    OrderPointsRequest,
    ProgramIn,
    ProgramOut,
    SpendRequest,
)
from siyu.orders import repository as orders
from siyu.promotions.referral import service as referral

router = APIRouter(prefix="/api/v1/loyalty", tags=["loyalty"])


def _program_out(session: SessionDep) -> ProgramOut:
    row = program.row(session)
    return ProgramOut(**program.load(session).model_dump(), period_started_at=row.period_started_at,
                      updated_at=row.updated_at)


@router.get("/program", response_model=ProgramOut)
def get_program(session: SessionDep, _: PrincipalDep) -> ProgramOut:
    """Tiers with their thresholds and benefits, and the rules for growth value, points and check-in."""
    return _program_out(session)


@router.put("/program", response_model=ProgramOut)
def set_program(body: ProgramIn, session: SessionDep, _: OperatorDep) -> ProgramOut:
    """Operators configure the whole programme here (普通/黄金/钻石 or their own ladder), without code."""
    program.save(session, body)
    return _program_out(session)


@router.post("/members", response_model=MemberOut)
def join(body: JoinRequest, session: SessionDep, p: PrincipalDep, response: Response) -> MemberOut:
    """Join the programme from any channel (201), or answer the existing membership (200)."""
    person = person_for(session, p, body.person_id, write=True)
    now = utcnow()
    if body.referral_code:  # bound before the join, so the sign-up reward follows the join's event
        referral.bind(session, person, body.referral_code, body.channel.value, now)
    m, created = members.join(session, person, body, now)
    response.status_code = 201 if created else 200
    return members.view(session, m, now)


@router.get("/me", response_model=MemberOut)
def me(session: SessionDep, p: PrincipalDep) -> MemberOut:
    """The member's tier, growth value, points and benefits: the same in every channel."""
    return members.view(session, member_for(session, p, None), utcnow())


@router.get("/members/{person_id}", response_model=MemberOut)
def get_member(person_id: str, session: SessionDep, p: PrincipalDep) -> MemberOut:
    return members.view(session, member_for(session, p, person_id), utcnow())


@router.get("/members/{person_id}/ledger", response_model=LedgerPage)
def ledger(person_id: str, session: SessionDep, p: PrincipalDep, before: str | None = None,
           limit: Annotated[int, Query(ge=1, le=500)] = 100) -> LedgerPage:
    """Every change of the member's points, newest first."""
    m = member_for(session, p, person_id)
    q = select(PointEntry).where(PointEntry.member_id == m.id).order_by(PointEntry.id.desc()).limit(limit + 1)
    if before:
        q = q.where(PointEntry.id < before)
    items = session.scalars(q).all()
    page = items[:limit]
    return LedgerPage(items=[EntryOut.model_validate(e, from_attributes=True) for e in page],
                      next_cursor=page[-1].id if len(items) > limit and page else None)


@router.post("/members/{person_id}/points/spend", response_model=EntryOut)
def spend_points(person_id: str, body: SpendRequest, session: SessionDep, p: PrincipalDep,
                 key: IdempotencyKey = None) -> Response | EntryOut:
    """Spend points (never below zero). With an ``Idempotency-Key`` a retry spends nothing more."""
    if (replay := claim_idempotency(session, p, f"loyalty.spend:{person_id}", key, body)) is not None:
        return replay
    m = member_for(session, p, person_id, write=True)
    e = spend(session, m.id, body.points, key=f"spend:{key or new_id()}", now=utcnow(), reason=body.reason,
              channel=body.channel.value if body.channel else None, actor=p.actor)
    out = EntryOut.model_validate(e, from_attributes=True)
    remember_answer(session, p, f"loyalty.spend:{person_id}", key, 200, out)
    return out


@router.post("/members/{person_id}/points/adjust", response_model=EntryOut)
def adjust_points(person_id: str, body: AdjustRequest, session: SessionDep, p: OperatorDep,
                  key: IdempotencyKey = None) -> Response | EntryOut:
    """An operator's adjustment, with a reason (a deduction never takes the balance below zero)."""
    if (replay := claim_idempotency(session, p, f"loyalty.adjust:{person_id}", key, body)) is not None:
        return replay
    m = member_for(session, p, person_id, write=True)
    e = adjust(session, m.id, body.points, key=f"adjust:{key or new_id()}", now=utcnow(), reason=body.reason,
               actor=p.actor, expiry_days=program.load(session).points_expiry_days)
    out = EntryOut.model_validate(e, from_attributes=True)
    remember_answer(session, p, f"loyalty.adjust:{person_id}", key, 200, out)
    return out


@router.post("/checkin", response_model=CheckInOut)
def check_in(body: CheckInRequest, session: SessionDep, p: PrincipalDep, person_id: str | None = None) -> CheckInOut:
    """Today's check-in (the member's local day): 409 ``already_checked_in`` the second time."""
    m = member_for(session, p, person_id, write=True)
    return checkin.check_in(session, m, body.channel.value, utcnow())


@router.post("/orders/{order_id}/points", response_model=OrderPointsOut)
def pay_with_points(order_id: str, body: OrderPointsRequest, session: SessionDep, p: PrincipalDep,
                    key: IdempotencyKey = None) -> Response | OrderPointsOut:
    """Pay part of an unpaid order with points (the programme's rate and cap); given back if the order is
    cancelled."""
    if (replay := claim_idempotency(session, p, f"loyalty.order:{order_id}", key, body)) is not None:
        return replay
    order = orders.get(session, order_id)
    m = member_for(session, p, order.person_id, write=True)
    r = redemptions.pay_order(session, m, order_id, body.points, order.channel, utcnow())
    order = orders.get(session, order_id)
    session.refresh(m)
    out = OrderPointsOut(order_id=order_id, points=r.points, discount_fen=order.points_discount_fen,
                         total_fen=order.total_fen, balance=m.points)
    remember_answer(session, p, f"loyalty.order:{order_id}", key, 200, out)
    return out
