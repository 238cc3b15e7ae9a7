from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from siyu.auth.errors import NotYourData, ScopeRequired
from siyu.auth.schemas import Role, Scope
from siyu.auth.service import Principal
from siyu.collect.openapi import ERROR
from siyu.deps import OperatorDep, PrincipalDep, SessionDep
from siyu.identity.anchors import same_person
from siyu.identity.service import current
from siyu.kit.clock import utcnow
from siyu.promotions.referral import ledger, program, service
from siyu.promotions.referral.models import Referral, ReferralReward
from siyu.promotions.referral.schemas import (
    BindRequest,
    Checkpoint,
    EntryOut,
    InviteOut,
    InviteRequest,
    LedgerPage,
    ProgramIn,
    ProgramOut,
    ReferralOut,
    RewardOut,
    SummaryOut,
    VerifyOut,
)

router = APIRouter(prefix="/api/v1/promotions/referrals", tags=["promotions"])


def _whose(session: SessionDep, p: Principal, person_id: str | None) -> str:
    """A member's own person; or, for ``promotions:write`` callers, the person they name."""
    if p.role is Role.member and p.person_id is not None:
        if person_id is not None and not same_person(session, person_id, p.person_id):
            raise NotYourData()
        return current(session, p.person_id)
    _writer(p)
    if person_id is None:
        raise NotYourData("Say whose: person_id.")
    return current(session, person_id)


def _writer(p: Principal) -> None:
    if p.role is Role.member or not p.has(Scope.promotions_write):
        raise ScopeRequired(details={"scope": Scope.promotions_write.value})


def referral_out(r: Referral) -> ReferralOut:
    return ReferralOut.model_validate(r, from_attributes=True)


def reward_out(r: ReferralReward) -> RewardOut:
    return RewardOut.model_validate(r, from_attributes=True)


@router.get("/program", response_model=ProgramOut)
def get_program(session: SessionDep, _: PrincipalDep) -> ProgramOut:
    """What referrer and invitee get on sign-up, first purchase and every purchase; caps; invite pages."""
    return ProgramOut(**program.load(session).model_dump(), updated_at=program.updated_at(session))


@router.put("/program", response_model=ProgramOut)
def set_program(body: ProgramIn, session: SessionDep, _: OperatorDep) -> ProgramOut:
    now = utcnow()
    return ProgramOut(**program.save(session, body, now).model_dump(), updated_at=now)


@router.post("/invite", response_model=InviteOut)
def invite(body: InviteRequest, session: SessionDep, p: PrincipalDep) -> InviteOut:
    """The member's invite code and links (made at the first call, the same ever after)."""
    person = _whose(session, p, body.person_id)
    return service.invite_out(session, service.invite(session, person, utcnow()), program.load(session))


@router.post("/bind", status_code=201, response_model=ReferralOut)
def bind(body: BindRequest, session: SessionDep, p: PrincipalDep, response: Response) -> ReferralOut:
    """The invitee accepts an invitation (201; 200 when it already had, from the same inviter). Once per
    customer; refused for one's own code (linked identities count), for customers who already bought, and
    for members who joined longer ago than the programme's window."""
    person = _whose(session, p, body.person_id)
    r, created = service.bind(session, person, body.code, body.channel.value, utcnow())
    response.status_code = 201 if created else 200
    return referral_out(r)


@router.get("/me", response_model=SummaryOut, responses={
    404: {"description": "No such person", "content": {"application/json": {"schema": ERROR}}}})
def summary(session: SessionDep, p: PrincipalDep, person_id: str | None = Query(None, max_length=32)) -> SummaryOut:
    """A customer's invite code, how many they invited, who invited them, and their referral rewards."""
    person = _whose(session, p, person_id)
    code = service.code_of(session, person)
    by = service.referral_of(session, person)
    return SummaryOut(code=code.code if code else None, invited=service.invited_count(session, person),
                      referred_by=referral_out(by) if by else None,
                      rewards=[reward_out(r) for r in service.rewards_of(session, person)])


@router.get("/ledger", response_model=LedgerPage)
def ledger_page(session: SessionDep, p: PrincipalDep, after: Annotated[int, Query(ge=0)] = 0,
                limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> LedgerPage:
    """The reward ledger in order, for keeping a copy and checking it independently."""
    _writer(p)
    rows = ledger.entries(session, after, limit + 1)
    items = [EntryOut(seq=e.seq, payload=e.payload, prev_hash=e.prev_hash, hash=e.hash) for e in rows[:limit]]
    return LedgerPage(items=items, next_after=items[-1].seq if len(rows) > limit and items else None)


@router.get("/ledger/verify", response_model=VerifyOut)
def verify(session: SessionDep, p: PrincipalDep,
           anchor_seq: Annotated[int | None, Query(ge=0, description="A checkpoint kept elsewhere: its seq")] = None,
           anchor_hash: Annotated[str | None, Query(pattern=r"^[0-9a-f]{64}$")] = None) -> VerifyOut:
    """Recompute the hash chain: ``ok``, how many entries, and the first bad one (changed, inserted or
    removed entries, a cut-off tail). With an anchor (a checkpoint published earlier), also that the chain
    still passes through it."""
    _writer(p)
    anchor = (anchor_seq, anchor_hash) if anchor_seq is not None and anchor_hash is not None else None
    v = ledger.verify(session, anchor)
    return VerifyOut(ok=v.ok, entries=v.entries, first_bad=v.first_bad, reason=v.reason,
                     checkpoint=Checkpoint(seq=v.checkpoint[0], hash=v.checkpoint[1]))
