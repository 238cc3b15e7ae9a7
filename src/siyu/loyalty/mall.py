"""Points-mall items (the catalogue side; redeeming is in ``redemptions.py``, the money part of a points-plus-money
item in ``mall_orders.py``).

Points plus money (``cash_fen``) is for goods with a SKU only: the money is paid as an order of that SKU at the
item's cash price, which ships it. Virtual goods and coupons have no SKU for an order to carry (nothing to
price, reserve or ship), so they are refused at creation (422 ``mall_cash_needs_goods``) rather than sold for
money nobody could collect."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.catalog import service as catalog
from siyu.db import get_or_raise
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id
from siyu.loyalty import program
from siyu.loyalty.errors import CashNeedsGoods, InvalidProgram, ItemNotFound
from siyu.loyalty.models import MallItem
from siyu.loyalty.schemas import MallItemIn, MallItemUpdate, MallKind
from siyu.promotions import coupons


def _check(session: Session, min_tier: str | None) -> None:
    if min_tier is not None and min_tier not in {t.code for t in program.load(session).tiers}:
        raise InvalidProgram("No tier has that code.", details={"min_tier": min_tier})


def _check_cash(kind: str, sku_id: str | None, cash_fen: int) -> None:
    if cash_fen and (kind != MallKind.goods.value or not sku_id):
        raise CashNeedsGoods(details={"kind": kind, "sku_id": sku_id, "cash_fen": cash_fen})


def create(session: Session, body: MallItemIn) -> MallItem:
    _check(session, body.min_tier)
    _check_cash(body.kind.value, body.sku_id, body.cash_fen)
    if body.kind is MallKind.goods and body.sku_id:
        catalog.get_sku(session, body.sku_id)
    if body.kind is MallKind.coupon:
        if not body.coupon_template_id:
            raise InvalidProgram("A coupon item names its coupon template.", details={"field": "coupon_template_id"})
        coupons.get_template(session, body.coupon_template_id)
    item = MallItem(id=new_id(), active=True, created_at=utcnow(), **body.model_dump(mode="json"))
    session.add(item)
    session.flush()
    return item


def get(session: Session, item_id: str) -> MallItem:
    return get_or_raise(session, MallItem, item_id, ItemNotFound, "item_id")


def update(session: Session, item_id: str, body: MallItemUpdate) -> MallItem:
    item = get(session, item_id)
    changes = body.model_dump(exclude_unset=True)
    _check(session, changes.get("min_tier"))
    if changes.get("cash_fen"):
        _check_cash(item.kind, item.sku_id, changes["cash_fen"])
    for key, value in changes.items():
        setattr(item, key, value)
    session.flush()
    return item


def listing(session: Session, active_only: bool) -> Sequence[MallItem]:
    q = select(MallItem).order_by(MallItem.created_at)
    if active_only:
        q = q.where(MallItem.active.is_(True))
    return session.scalars(q).all()
