"""Points-mall items (the catalogue side; redeeming is in ``redemptions.py``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.catalog import service as catalog
from siyu.db import get_or_raise
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id
from siyu.loyalty import program
from siyu.loyalty.errors import InvalidProgram, ItemNotFound
from siyu.loyalty.models import MallItem
from siyu.loyalty.schemas import MallItemIn, MallItemUpdate, MallKind


def _check(session: Session, min_tier: str | None) -> None:
    if min_tier is not None and min_tier not in {t.code for t in program.load(session).tiers}:
        raise InvalidProgram("No tier has that code.", details={"min_tier": min_tier})


def create(session: Session, body: MallItemIn) -> MallItem:
    _check(session, body.min_tier)
    if body.kind is MallKind.goods and body.sku_id:
        catalog.get_sku(session, body.sku_id)
    if body.kind is MallKind.coupon and not body.coupon_template_id:
        raise InvalidProgram("A coupon item names its coupon template.", details={"field": "coupon_template_id"})
    item = MallItem(id=new_id(), active=True, cash_fen=0, created_at=utcnow(), **body.model_dump(mode="json"))
    session.add(item)
    session.flush()
    return item


def get(session: Session, item_id: str) -> MallItem:
    return get_or_raise(session, MallItem, item_id, ItemNotFound, "item_id")


def update(session: Session, item_id: str, body: MallItemUpdate) -> MallItem:
    item = get(session, item_id)
    changes = body.model_dump(exclude_unset=True)
    _check(session, changes.get("min_tier"))
    for key, value in changes.items():
        setattr(item, key, value)
    session.flush()
    return item


def listing(session: Session, active_only: bool) -> Sequence[MallItem]:
    q = select(MallItem).order_by(MallItem.created_at)
    if active_only:
        q = q.where(MallItem.active.is_(True))
    return session.scalars(q).all()
