"""The demo's shop: the simulated brand's catalog sold in every channel, a warehouse and two stores with
stock, the default membership programme, coupons, a points-mall item and a cross-channel quest, so every
part of Siyu has something to show after ``siyu demo``. Idempotent (skips what exists)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.catalog import service as catalog
from siyu.catalog.models import Category, Location, Sku
from siyu.catalog.schemas import CategoryIn, ListingIn, LocationIn, LocationKind, ProductIn, SkuIn, Spec
from siyu.loyalty import mall, program, quests
from siyu.loyalty.schemas import MallItemIn
from siyu.promotions import coupons
from siyu.promotions.models import CouponTemplate
from siyu.promotions.schemas import TemplateIn
from siyu.simulate.brand import BRAND, PRODUCTS

CHANNELS = ("miniprogram", "web", "app")


def _locations(session: Session) -> dict[str, str]:
    wanted = [LocationIn(code="WH-HZ", name="杭州中心仓", kind=LocationKind.warehouse, priority=10),
              LocationIn(code="ST-XIHU", name="西湖旗舰店", kind=LocationKind.store, pickup=True, ships=False,
                         address="杭州市西湖区龙井路 1 号"),
              LocationIn(code="ST-SH", name="上海新天地店", kind=LocationKind.store, pickup=True, ships=False,
                         address="上海市黄浦区马当路 245 号")]
    out = {}
    for loc in wanted:
        found = session.scalar(select(Location.id).where(Location.code == loc.code))
        out[loc.code] = found or catalog.create_location(session, loc).id
    return out


def _catalog(session: Session, locations: dict[str, str]) -> int:
    made = 0
    categories: dict[str, str] = {}
    now = datetime.now(UTC)
    for p in PRODUCTS:
        if session.scalar(select(Sku.id).where(Sku.code == p.sku)) is not None:
            continue
        if p.category not in categories:
            found = session.scalar(select(Category.id).where(Category.name == p.category))
            categories[p.category] = found or catalog.create_category(session, CategoryIn(name=p.category)).id
        listings = {ch: ListingIn(price_fen=p.price_fen) for ch in CHANNELS}
        if p.category == "礼盒":  # gift boxes: the APP sells them a day earlier than the other channels
            for ch in ("miniprogram", "web"):
                listings[ch] = ListingIn(price_fen=p.price_fen, available_from=now + timedelta(days=1))
        if p.sku.endswith("-001") and p.category == "乌龙茶":  # a members-only item
            listings["app"] = ListingIn(price_fen=p.price_fen * 9 // 10, min_tier="gold")
        specs = [Spec(group="基本信息", name="品牌", value=BRAND),
                 Spec(group="基本信息", name="品类", value=p.category),
                 Spec(group="规格", name="规格", value=p.name.split(" ")[-1])]
        product = catalog.create_product(session, ProductIn(
            title=p.name, brand=BRAND, category_id=categories[p.category], specs=specs,
            skus=[SkuIn(code=p.sku, name=p.name, listings=listings)]))
        sku = session.scalar(select(Sku.id).where(Sku.product_id == product.id))
        assert sku is not None
        catalog.set_stock(session, sku, locations["WH-HZ"], 500)
        catalog.set_stock(session, sku, locations["ST-XIHU"], 20)
        catalog.set_stock(session, sku, locations["ST-SH"], 10)
        made += 1
    return made


def _promotions(session: Session) -> None:
    existing = set(session.scalars(select(CouponTemplate.name)))
    templates: list[dict[str, Any]] = [
        {"name": "下载APP立减20元", "kind": "fixed", "amount_fen": 2000, "valid_days": 30, "channels": ["app"],
         "new_members_only": True},
        {"name": "满200减30", "kind": "threshold", "amount_fen": 3000, "threshold_fen": 20000, "valid_days": 14,
         "total": 10000, "stacking_group": "full-reduction"},
        {"name": "小程序包邮券", "kind": "free_shipping", "valid_days": 7, "channels": ["miniprogram"],
         "stacking_group": "shipping", "per_member_limit": 3},
    ]
    for t in templates:
        if t["name"] not in existing:
            coupons.create_template(session, TemplateIn(**t))


def _loyalty(session: Session) -> None:
    program.row(session)  # the default programme (普通/黄金/钻石)
    if not mall.listing(session, active_only=False):
        mall.create(session, MallItemIn(title="品鉴小样 3 选 1", kind="virtual", points=300, stock=1000,
                                        per_member_limit=1))
    if not quests.active(session, datetime.now(UTC)):
        quests.create(session, "全渠道茶友", [{"action": "share", "channel": "miniprogram", "count": 3},
                                          {"action": "order", "channel": "web", "count": 1},
                                          {"action": "checkin", "channel": "app", "count": 7}], 30, 500, None, None)


def seed_shop(session: Session) -> dict[str, int]:
    locations = _locations(session)
    made = _catalog(session, locations)
    _promotions(session)
    _loyalty(session)
    return {"products": made, "locations": len(locations)}
