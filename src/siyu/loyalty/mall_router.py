from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from siyu.deps import IdempotencyKey, OperatorDep, PrincipalDep, SessionDep, claim_idempotency, remember_answer
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id
from siyu.loyalty import mall, mall_orders, quests, redemptions
from siyu.loyalty.access import member_for
from siyu.loyalty.models import MallItem, Quest
from siyu.loyalty.schemas import (
    MallItemIn,
    MallItemOut,
    MallItemUpdate,
    QuestIn,
    QuestOut,
    QuestProgressOut,
    RedeemRequest,
    RedemptionOut,
)

router = APIRouter(prefix="/api/v1/loyalty", tags=["points mall and quests"])


def _item(i: MallItem) -> MallItemOut:
    return MallItemOut.model_validate(i, from_attributes=True)


def _quest(q: Quest) -> QuestOut:
    return QuestOut.model_validate(q, from_attributes=True)


@router.post("/mall/items", status_code=201, response_model=MallItemOut)
def create_item(body: MallItemIn, session: SessionDep, _: OperatorDep) -> MallItemOut:
    return _item(mall.create(session, body))


@router.get("/mall/items", response_model=list[MallItemOut])
def list_items(session: SessionDep, _: PrincipalDep, include_inactive: bool = False) -> list[MallItemOut]:
    return [_item(i) for i in mall.listing(session, not include_inactive)]


@router.patch("/mall/items/{item_id}", response_model=MallItemOut)
def update_item(item_id: str, body: MallItemUpdate, session: SessionDep, _: OperatorDep) -> MallItemOut:
    return _item(mall.update(session, item_id, body))


@router.post("/mall/items/{item_id}/redeem", status_code=201, response_model=RedemptionOut)
def redeem(item_id: str, body: RedeemRequest, session: SessionDep, p: PrincipalDep, person_id: str | None = None,
           key: IdempotencyKey = None) -> Response | RedemptionOut:
    """Redeem an item for points: stock, the per-member limit and the tier gate are checked together with
    the points; a coupon item's coupons are issued at once. A points-plus-money item answers
    ``awaiting_payment`` with a ``promotion``: order the item's SKU (the quantity redeemed) with it before
    ``expires_at`` to pay the money part, or the points and the stock come back."""
    if (replay := claim_idempotency(session, p, f"loyalty.redeem:{item_id}", key, body)) is not None:
        return replay
    m = member_for(session, p, person_id, write=True)
    r = redemptions.redeem_item(session, m, item_id, body.quantity, body.channel.value, utcnow(), key or new_id())
    out = mall_orders.redemption_out(r)
    remember_answer(session, p, f"loyalty.redeem:{item_id}", key, 201, out)
    return out


@router.get("/mall/redemptions", response_model=list[RedemptionOut])
def my_redemptions(session: SessionDep, p: PrincipalDep, person_id: str | None = None,
                   limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[RedemptionOut]:
    """The member's redemptions (mall items and points paid on orders), newest first."""
    m = member_for(session, p, person_id)
    return [mall_orders.redemption_out(r) for r in redemptions.of_member(session, m.id, limit)]


@router.post("/quests", status_code=201, response_model=QuestOut)
def create_quest(body: QuestIn, session: SessionDep, _: OperatorDep) -> QuestOut:
    """A composite goal across channels, e.g. share 3 times in the mini-program + 1 website order + 7 APP
    check-ins within 30 days."""
    goals = [g.model_dump(mode="json") for g in body.goals]
    return _quest(quests.create(session, body.name, goals, body.window_days, body.reward_points, body.starts_at,
                                body.ends_at))


@router.get("/quests", response_model=list[QuestProgressOut])
def my_quests(session: SessionDep, p: PrincipalDep, person_id: str | None = None) -> list[QuestProgressOut]:
    """Active quests with the member's progress."""
    m = member_for(session, p, person_id)
    now = utcnow()
    return [QuestProgressOut(quest=_quest(q), goals=quests.progress(session, m.id, q, now),
                             completed=quests.completed(session, m.id, q.id)) for q in quests.active(session, now)]
