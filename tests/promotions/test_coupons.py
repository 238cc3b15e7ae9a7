"""Coupons through the API: channel-only claims, the pricing engine's order of discounts, lock at
checkout, redeem at payment, roll back on cancellation and full refund."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from siyu.loyalty import growth
from siyu.loyalty.models import Member as MemberRow
from tests.orders.shop import ADDRESS, Member, Shop


def template(shop: Shop, **kw: Any) -> dict[str, Any]:
    body = {"name": "券", "kind": "fixed", "amount_fen": 2000, "valid_days": 30, **kw}
    return shop.admin("POST", "/api/v1/promotions/coupon-templates", body, status=201)  # type: ignore[no-any-return]


def claim(m: Member, template_id: str, channel: str) -> Any:
    return m.call("POST", f"/api/v1/promotions/coupon-templates/{template_id}/claim", {"channel": channel})


def order(m: Member, channel: str, coupons: list[str], qty: int = 1, code: str = "SCARF-RED") -> Any:
    return m.call("POST", "/api/v1/orders", {"channel": channel, "lines": [{"sku_code": code, "quantity": qty}],
                                            "address": ADDRESS, "coupons": coupons})


def test_an_app_only_coupon_is_claimed_and_used_only_in_the_app(shop: Shop) -> None:
    lin = shop.member("13800134000")
    t = template(shop, name="下载APP立减20", channels=["app"])
    web = claim(lin, t["id"], "web")
    assert web.status_code == 403 and web.json()["error"]["code"] == "coupon_not_claimable"
    got = claim(lin, t["id"], "app")
    assert got.status_code == 201, got.text
    cid = got.json()["id"]
    in_web = order(lin, "web", [cid])
    assert in_web.status_code == 422 and in_web.json()["error"]["details"]["reason"] == "coupon_wrong_channel"
    placed = order(lin, "app", [cid])
    assert placed.status_code == 201, placed.text
    o = placed.json()
    assert (o["subtotal_fen"], o["discount_fen"], o["total_fen"]) == (19900, 2000, 17900) and o["coupons"] == [cid]
    assert lin.call("GET", "/api/v1/promotions/coupons").json()[0]["status"] == "locked"
    lin.pay_online(o)
    c = lin.call("GET", "/api/v1/promotions/coupons").json()[0]
    assert c["status"] == "redeemed" and c["redeemed_order_id"] == o["id"] and c["discount_fen"] == 2000


def test_pricing_engine_applies_tier_then_coupons_in_order(shop: Shop) -> None:
    lin = shop.member("13800134001")
    lin.call("POST", "/api/v1/loyalty/members", {"channel": "app"})
    threshold = template(shop, name="满300减50", kind="threshold", amount_fen=5000, threshold_fen=30000,
                         stacking_group="full-reduction")
    percent = template(shop, name="9折最多减30", kind="percent", percent_bp=1000, max_discount_fen=3000,
                       stacking_group="discount")
    ship = template(shop, name="包邮", kind="free_shipping", stacking_group="shipping")
    ids = [claim(lin, t["id"], "app").json()["id"] for t in (percent, threshold, ship)]
    shop.admin("PUT", "/api/v1/commerce/policy", {"shipping_fee_fen": 800})
    q = lin.call("POST", "/api/v1/promotions/pricing/quote", {"channel": "app", "coupons": ids,
                                                             "lines": [{"sku_code": "SCARF-RED", "quantity": 2}]})
    assert q.status_code == 200, q.text
    body = q.json()
    # 39,800 goods; 满300减50 first -> 34,800; then 10% capped at 30 yuan -> 31,800; free shipping
    assert (body["subtotal_fen"], body["coupon_discount_fen"], body["shipping_fen"], body["total_fen"]) == (
        39800, 8000, 0, 31800)
    assert body["coupons_applied"] == [ids[1], ids[0], ids[2]] and body["coupons_rejected"] == []
    assert sum(line["discount_fen"] for line in body["lines"]) == 8000
    # a dry run locks nothing
    assert {c["status"] for c in lin.call("GET", "/api/v1/promotions/coupons").json()} == {"available"}


def test_coupon_rules_are_checked(shop: Shop) -> None:
    lin, bob = shop.member("13800134002"), shop.member("13800134003")
    same_group = [template(shop, name=f"g{i}", stacking_group="one") for i in range(2)]
    ids = [claim(lin, t["id"], "web").json()["id"] for t in same_group]
    q = lin.call("POST", "/api/v1/promotions/pricing/quote",
                 {"channel": "web", "coupons": ids, "lines": [{"sku_code": "SCARF-RED", "quantity": 1}]}).json()
    assert q["coupons_applied"] == [ids[0]] and q["coupons_rejected"][0]["code"] == "coupon_not_stackable"
    # someone else's coupon (macrozheng/mall: owner not checked at use)
    r = order(bob, "web", [ids[0]])
    assert r.status_code == 422 and r.json()["error"]["details"]["reason"] == "coupon_not_found"
    # threshold not met
    big = template(shop, name="满1000减100", kind="threshold", amount_fen=10000, threshold_fen=100000)
    cid = claim(lin, big["id"], "web").json()["id"]
    r = order(lin, "web", [cid])
    assert r.status_code == 422 and r.json()["error"]["details"]["reason"] == "coupon_threshold_not_met"
    # new members only: fine for a first order, refused after a paid one
    newbie = template(shop, name="新人券", new_members_only=True, per_member_limit=2)
    first, second = (claim(lin, newbie["id"], "web").json()["id"] for _ in range(2))
    paid = order(lin, "web", [first]).json()
    lin.pay_online(paid)
    r = order(lin, "web", [second])
    assert r.status_code == 422 and r.json()["error"]["details"]["reason"] == "coupon_new_members_only"
    # after a paid order, a new-member coupon cannot be claimed any more either
    late = claim(lin, newbie["id"], "web")
    assert late.status_code == 403 and late.json()["error"]["details"]["reason"] == "not_a_new_member"
    # per-member limit
    once = template(shop, name="限领1张")
    assert claim(lin, once["id"], "web").status_code == 201
    over = claim(lin, once["id"], "web")
    assert over.status_code == 409 and over.json()["error"]["code"] == "coupon_limit_reached"


def test_cancel_and_full_refund_give_the_coupon_back(shop: Shop) -> None:
    lin = shop.member("13800134004")
    t = template(shop)
    cid = claim(lin, t["id"], "miniprogram").json()["id"]
    o = order(lin, "miniprogram", [cid]).json()
    lin.call("POST", f"/api/v1/orders/{o['id']}/cancel")
    assert lin.call("GET", "/api/v1/promotions/coupons").json()[0]["status"] == "available"
    o = order(lin, "miniprogram", [cid]).json()
    shop.admin("POST", f"/api/v1/orders/{o['id']}/payments", {"provider": "manual"}, status=201)
    assert lin.call("GET", "/api/v1/promotions/coupons").json()[0]["status"] == "redeemed"
    shop.admin("POST", f"/api/v1/orders/{o['id']}/refunds", {"reason": "return"}, status=201)  # all of it
    assert lin.call("GET", "/api/v1/promotions/coupons").json()[0]["status"] == "available"


def test_early_access_and_early_bird_prices(shop: Shop) -> None:
    now = datetime.now(UTC)
    sku = shop.skus["SCARF-RED"]
    shop.admin("PUT", f"/api/v1/catalog/skus/{sku}/listings/app",
               {"price_fen": 19900, "available_from": (now + timedelta(hours=4)).isoformat()})
    shop.admin("POST", "/api/v1/promotions/early-access",
               {"sku_id": sku, "channel": "app", "tier": "diamond",
                "opens_at": (now - timedelta(minutes=1)).isoformat()})
    shop.admin("POST", "/api/v1/promotions/price-schedules",
               {"sku_id": sku, "channel": "app", "starts_at": (now - timedelta(hours=1)).isoformat(),
                "ends_at": (now + timedelta(hours=6)).isoformat(), "price_fen": 15900, "label": "早鸟价"},
               status=201)
    regular, diamond = shop.member("13800134005"), shop.member("13800134006")
    for m in (regular, diamond):
        m.call("POST", "/api/v1/loyalty/members", {"channel": "app"})
    with shop.api.runtime.db.session() as s:
        mid = s.query(MemberRow).filter(MemberRow.person_id == diamond.person_id).one().id
        growth.add(s, mid, 5000, kind="adjust", key="vip", day=now.date(), now=now)
    r = order(regular, "app", [])
    assert r.status_code == 422 and r.json()["error"]["code"] == "sku_not_available_yet"
    got = order(diamond, "app", [])
    assert got.status_code == 201, got.text
    line = got.json()["lines"][0]
    assert line["unit_price_fen"] == 15900  # the early-bird price; then 5% diamond discount
    assert got.json()["discount_fen"] == 15900 * 500 // 10000
