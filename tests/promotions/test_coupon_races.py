"""Coupon races against a live server on both runtimes, each repeated SIYU_TEST_RACE_REPEAT times (3 by
default and in CI):
claims never exceed the total; a single-use coupon is used once, however many orders race for it."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.orders.live import REPEAT, Live, gather, live, members
from tests.orders.shop import ADDRESS

__all__ = ["live"]


def test_1000_concurrent_claims_of_a_coupon_with_a_total_of_100(live: Live) -> None:
    tokens = members(live, 100)
    for round_ in range(REPEAT):
        t = live.ok("POST", "/api/v1/promotions/coupon-templates", {
            "name": f"限量券 {round_}", "kind": "fixed", "amount_fen": 1000, "valid_days": 7, "total": 100,
            "per_member_limit": 10})
        answers = asyncio.run(gather([("POST", f"/api/v1/promotions/coupon-templates/{t['id']}/claim",
                                       {"channel": ("app", "web", "miniprogram")[i % 3]},
                                       {"Authorization": f"Bearer {tokens[i % 100]}"}) for i in range(1000)],
                                     live.url))
        codes = Counter(r.status_code for r in answers)
        assert codes == {201: 100, 409: 900}, (round_, codes)
        assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} <= {"coupons_sold_out",
                                                                                         "coupon_limit_reached"}
        issued = [tt for tt in live.ok("GET", "/api/v1/promotions/coupon-templates") if tt["id"] == t["id"]]
        assert issued[0]["issued"] == 100
        per_member = Counter(r.json()["person_id"] for r in answers if r.status_code == 201)
        assert max(per_member.values()) <= 10


def test_100_concurrent_orders_with_one_single_use_coupon_from_three_channels(live: Live) -> None:
    wh = live.ok("POST", "/api/v1/catalog/locations", {"code": "WH", "name": "仓", "kind": "warehouse"})["id"]
    listings = {ch: {"price_fen": 5000} for ch in ("miniprogram", "web", "app")}
    sku = live.ok("POST", "/api/v1/catalog/products",
                  {"title": "券品", "skus": [{"code": "CPN", "listings": listings}]})["skus"][0]["id"]
    live.ok("PUT", f"/api/v1/catalog/stock/{sku}/{wh}", {"on_hand": 100_000})
    (token,) = members(live, 1)
    for round_ in range(REPEAT):
        t = live.ok("POST", "/api/v1/promotions/coupon-templates", {
            "name": f"单张券 {round_}", "kind": "fixed", "amount_fen": 1000, "valid_days": 7})
        coupon = live.call("POST", f"/api/v1/promotions/coupon-templates/{t['id']}/claim", {"channel": "app"},
                           token=token).json()["id"]
        body = [{"channel": ch, "lines": [{"sku_id": sku, "quantity": 1}], "address": ADDRESS, "coupons": [coupon]}
                for ch in ("miniprogram", "web", "app")]
        answers = asyncio.run(gather([("POST", "/api/v1/orders", body[i % 3], {"Authorization": f"Bearer {token}"})
                                      for i in range(100)], live.url))
        won = [r for r in answers if r.status_code == 201]
        assert len(won) == 1, (round_, Counter(r.status_code for r in answers))
        assert {r.json()["error"]["code"] for r in answers if r.status_code != 201} <= {"coupon_in_use",
                                                                                         "coupon_not_usable"}
        order = won[0].json()
        assert order["total_fen"] == 4000 and order["coupons"] == [coupon]
        live.ok("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "manual"})
        mine = live.call("GET", "/api/v1/promotions/coupons", token=token).json()
        assert [c["status"] for c in mine if c["id"] == coupon] == ["redeemed"]
