"""The points mall through the HTTP API: tier gates, per-member limits and stock; coupon items that issue their
coupons (or spend nothing); points plus money, paid as an order with the redemption as its promotion, completed
by the payment and given back, once, on cancellation, on the payment timeout or when never ordered."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import update

from siyu.kit.clock import utcnow
from siyu.loyalty import growth, mall_orders, redemptions
from siyu.loyalty.models import Member as MemberRow
from siyu.loyalty.tasks import LoyaltySweeper
from siyu.orders.models import Order
from siyu.orders.tasks import OrderSweeper
from tests.loyalty.test_flow import join
from tests.orders.shop import ADDRESS, Member, Shop

ITEMS = "/api/v1/loyalty/mall/items"


def item(shop: Shop, **body: Any) -> dict[str, Any]:
    return shop.admin("POST", ITEMS, {"title": "换购", "kind": "virtual", "points": 50, **body}, status=201)  # type: ignore[no-any-return]


def redeem(m: Member, item_id: str, quantity: int = 1, channel: str = "app") -> Any:
    return m.call("POST", f"{ITEMS}/{item_id}/redeem", {"quantity": quantity, "channel": channel})


def me(m: Member) -> dict[str, Any]:
    return m.call("GET", "/api/v1/loyalty/me").json()  # type: ignore[no-any-return]


def stock_of(shop: Shop, item_id: str) -> int | None:
    return next(i["stock"] for i in shop.admin("GET", f"{ITEMS}?include_inactive=true") if i["id"] == item_id)


def redemption(m: Member, redemption_id: str) -> dict[str, Any]:
    return next(r for r in m.call("GET", "/api/v1/loyalty/mall/redemptions").json() if r["id"] == redemption_id)


def make_gold(shop: Shop, m: Member) -> None:
    with shop.api.runtime.db.session() as s:
        mid = s.query(MemberRow).filter(MemberRow.person_id == m.person_id).one().id
        growth.add(s, mid, 1000, kind="adjust", key="gold", day=date.today(), now=datetime.now(UTC))


def test_tier_gate_per_member_limit_and_stock(shop: Shop) -> None:
    gated = item(shop, title="金卡专享", points=10, min_tier="gold")
    lin, wang = shop.member("13800131000"), shop.member("13800131001")
    for m in (lin, wang):
        join(m, "app")
    refused = redeem(lin, gated["id"])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "tier_required", refused.text
    assert refused.json()["error"]["details"] == {"tier": "gold"} and me(lin)["points"] == 100
    make_gold(shop, lin)
    assert redeem(lin, gated["id"]).status_code == 201 and me(lin)["points"] == 90

    limited = item(shop, title="限兑两次", points=10, stock=10, per_member_limit=2)  # stock is not the reason
    assert redeem(lin, limited["id"], quantity=2).status_code == 201
    third = redeem(lin, limited["id"])
    assert third.status_code == 409 and third.json()["error"]["code"] == "mall_limit_reached", third.text
    assert third.json()["error"]["details"] == {"limit": 2, "redeemed": 2} and stock_of(shop, limited["id"]) == 8
    assert redeem(wang, limited["id"], quantity=2).status_code == 201  # the limit is per member

    last = item(shop, title="最后一件", points=10, stock=1)
    assert redeem(lin, last["id"]).status_code == 201
    gone = redeem(wang, last["id"])
    assert gone.status_code == 409 and gone.json()["error"]["code"] == "mall_item_unavailable", gone.text


def test_a_coupon_item_issues_its_coupons_or_spends_nothing(shop: Shop) -> None:
    t = shop.admin("POST", "/api/v1/promotions/coupon-templates",
                   {"name": "10 元券", "kind": "fixed", "amount_fen": 1000, "valid_days": 30, "per_member_limit": 5,
                    "total": 3, "claimable": False}, status=201)
    coupon = item(shop, title="10 元券", kind="coupon", points=20, stock=10, coupon_template_id=t["id"])
    lin = shop.member("13800131002")
    join(lin, "miniprogram")
    got = redeem(lin, coupon["id"], quantity=2, channel="miniprogram")
    assert got.status_code == 201, got.text
    mine = lin.call("GET", "/api/v1/promotions/coupons").json()
    assert [(c["template_id"], c["source"], c["status"]) for c in mine] == [(t["id"], "mall", "available")] * 2
    assert me(lin)["points"] == 60 and stock_of(shop, coupon["id"]) == 8
    sold_out = redeem(lin, coupon["id"], quantity=2, channel="miniprogram")  # one coupon left of the total of 3
    assert sold_out.status_code == 409 and sold_out.json()["error"]["code"] == "coupons_sold_out", sold_out.text
    assert me(lin)["points"] == 60 and stock_of(shop, coupon["id"]) == 8  # nothing spent, nothing held
    assert len(lin.call("GET", "/api/v1/promotions/coupons").json()) == 2
    assert shop.admin("GET", "/api/v1/promotions/coupon-templates")[0]["issued"] == 2
    missing = shop.admin("POST", ITEMS, {"title": "x", "kind": "coupon", "points": 1, "coupon_template_id": "nope"},
                         status=404)
    assert missing["error"]["code"] == "coupon_template_not_found"


def test_money_is_only_for_goods_with_a_sku(shop: Shop) -> None:
    for body in ({"kind": "virtual", "cash_fen": 990}, {"kind": "coupon", "cash_fen": 990, "coupon_template_id": "t"},
                 {"kind": "goods", "cash_fen": 990}):
        r = shop.admin("POST", ITEMS, {"title": "x", "points": 10, **body}, status=422)
        assert r["error"]["code"] == "mall_cash_needs_goods", (body, r)
    virtual = item(shop)
    assert virtual["cash_fen"] == 0
    r = shop.admin("PATCH", f"{ITEMS}/{virtual['id']}", {"cash_fen": 100}, status=422)
    assert r["error"]["code"] == "mall_cash_needs_goods"
    r = shop.admin("PATCH", f"{ITEMS}/{virtual['id']}", {"points": None}, status=422)
    assert r["error"]["code"] == "validation_error"
    goods = item(shop, kind="goods", sku_id=shop.skus["SCARF-RED"], cash_fen=990)
    assert shop.admin("PATCH", f"{ITEMS}/{goods['id']}", {"cash_fen": 1990})["cash_fen"] == 1990


def scarf_for_points_and_money(shop: Shop, stock: int = 5) -> dict[str, Any]:
    return item(shop, title="围巾换购", kind="goods", sku_id=shop.skus["SCARF-RED"], points=60, cash_fen=990,
                stock=stock)


def order_with(m: Member, promotion: dict[str, Any], quantity: int = 1, channel: str = "app") -> Any:
    return m.call("POST", "/api/v1/orders", {"channel": channel, "address": ADDRESS, "promotion": promotion,
                                             "lines": [{"sku_code": "SCARF-RED", "quantity": quantity}]})


def test_points_plus_money_redeem_order_pay_completed(shop: Shop) -> None:
    goods = scarf_for_points_and_money(shop)
    lin = shop.member("13800131003")
    join(lin, "app")
    r = redeem(lin, goods["id"])
    assert r.status_code == 201, r.text
    red = r.json()
    assert (red["status"], red["points"], red["cash_fen"], red["order_id"]) == ("awaiting_payment", 60, 990, None)
    assert red["promotion"] == {"kind": "points_mall", "id": red["id"]}
    assert timedelta(minutes=29) < datetime.fromisoformat(red["expires_at"]) - utcnow() <= timedelta(minutes=30)
    assert me(lin)["points"] == 40 and stock_of(shop, goods["id"]) == 4
    placed = order_with(lin, red["promotion"])
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert [(ln["unit_price_fen"], ln["quantity"]) for ln in order["lines"]] == [(990, 1)]
    assert order["total_fen"] == 990 and order["promotion_kind"] == "points_mall"
    again = order_with(lin, red["promotion"], channel="web")  # one order per redemption
    assert again.status_code == 409 and again.json()["error"]["code"] == "redemption_not_payable", again.text
    assert redemption(lin, red["id"])["order_id"] == order["id"] and redemption(lin, red["id"])["promotion"] is None
    lin.pay_online(order)
    shop.api.drain()
    assert redemption(lin, red["id"])["status"] == "completed"
    after = me(lin)
    assert after["points"] == 40 and after["pending_points"] == 9  # the money earns points like any order
    assert stock_of(shop, goods["id"]) == 4
    with shop.api.runtime.db.session() as s:  # a replayed payment or cancellation changes nothing now
        assert mall_orders.paid(s, order["id"]) == 0
    assert redemption(lin, red["id"])["status"] == "completed"


def test_points_plus_money_cancelled_or_timed_out_comes_back_once(shop: Shop) -> None:
    goods = scarf_for_points_and_money(shop)
    lin = shop.member("13800131004")
    join(lin, "web")
    shop.admin("POST", f"/api/v1/loyalty/members/{lin.person_id}/points/adjust", {"points": 100, "reason": "test"})
    cancelled, timed_out, never = (redeem(lin, goods["id"], channel="web").json() for _ in range(3))
    assert me(lin)["points"] == 200 - 3 * 60 and stock_of(shop, goods["id"]) == 2
    one = order_with(lin, cancelled["promotion"], channel="web").json()
    two = order_with(lin, timed_out["promotion"], channel="web").json()
    assert lin.call("POST", f"/api/v1/orders/{one['id']}/cancel").status_code == 200
    shop.api.drain()
    assert redemption(lin, cancelled["id"])["status"] == "reversed"
    assert me(lin)["points"] == 20 + 60 and stock_of(shop, goods["id"]) == 3
    with shop.api.runtime.db.session() as s:  # the order's payment times out
        s.execute(update(Order).where(Order.id == two["id"]).values(reserve_expires_at=utcnow() - timedelta(seconds=1)))
    assert OrderSweeper(shop.api.runtime.db, 1).sweep()[0] == 1
    shop.api.drain()
    assert redemption(lin, timed_out["id"])["status"] == "reversed"
    assert me(lin)["points"] == 20 + 2 * 60 and stock_of(shop, goods["id"]) == 4
    db = shop.api.runtime.db
    assert LoyaltySweeper(db, 1, clock=lambda: utcnow() + timedelta(minutes=29)).sweep()["unordered"] == 0
    assert redemption(lin, never["id"])["status"] == "awaiting_payment"
    late = utcnow() + timedelta(minutes=31)
    assert LoyaltySweeper(db, 1, clock=lambda: late).sweep()["unordered"] == 1  # never ordered in time
    assert LoyaltySweeper(db, 1, clock=lambda: late).sweep()["unordered"] == 0
    assert redemption(lin, never["id"])["status"] == "reversed"
    assert me(lin)["points"] == 200 and stock_of(shop, goods["id"]) == 5
    too_late = order_with(lin, never["promotion"], channel="web")
    assert too_late.status_code == 409 and too_late.json()["error"]["code"] == "redemption_not_payable"
    with db.session() as s:  # replayed events and sweeps give nothing twice
        assert redemptions.reverse_for_order(s, one["id"], late) == 0
        assert redemptions.reverse_for_order(s, two["id"], late) == 0
        assert not mall_orders.expire(s, never["id"], late)
    assert me(lin)["points"] == 200 and stock_of(shop, goods["id"]) == 5
    ledger = lin.call("GET", f"/api/v1/loyalty/members/{lin.person_id}/ledger").json()["items"]
    assert sorted(e["ref"] for e in ledger if e["kind"] == "restore") == [goods["id"]] * 3
    assert sum(e["delta"] for e in ledger) == 200


def test_points_plus_money_order_must_hold_the_quantity_redeemed(shop: Shop) -> None:
    goods = scarf_for_points_and_money(shop)
    lin = shop.member("13800131005")
    join(lin, "app")
    shop.admin("POST", f"/api/v1/loyalty/members/{lin.person_id}/points/adjust", {"points": 100, "reason": "test"})
    red = redeem(lin, goods["id"], quantity=2).json()
    assert red["cash_fen"] == 1980 and red["points"] == 120
    fewer = order_with(lin, red["promotion"], quantity=1)
    assert fewer.status_code == 422 and fewer.json()["error"]["code"] == "mall_order_quantity", fewer.text
    more = order_with(lin, red["promotion"], quantity=3)
    assert more.status_code == 422 and more.json()["error"]["code"] == "promotion_quantity", more.text
    other = shop.member("13800131006")
    join(other, "app")
    theirs = order_with(other, red["promotion"], quantity=2)
    assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "redemption_not_found", theirs.text
    placed = order_with(lin, red["promotion"], quantity=2)
    assert placed.status_code == 201 and placed.json()["total_fen"] == 1980, placed.text
