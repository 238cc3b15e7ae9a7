"""Races against a live ``siyu serve``: concurrent spends never overdraw, concurrent check-ins reward once,
concurrent orders claim a points-plus-money redemption once and its cancellation gives back once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from tests.orders.live import REPEAT, Live, gather, live, members
from tests.orders.shop import ADDRESS

__all__ = ["live"]
CHANNELS = ("miniprogram", "web", "app")


def test_100_concurrent_spends_against_a_balance_for_10(live: Live) -> None:
    (token,) = members(live, 1)
    me = live.call("POST", "/api/v1/loyalty/members", {"channel": "app"}, token=token).json()
    person = me["person_id"]
    top_up = 1000 - me["points"]  # welcome points plus this make 1,000
    live.ok("POST", f"/api/v1/loyalty/members/{person}/points/adjust", {"points": top_up, "reason": "race"})
    spend = {"points": 100, "reason": "race", "channel": "app"}
    answers = asyncio.run(gather([("POST", f"/api/v1/loyalty/members/{person}/points/spend", spend,
                                   {"Authorization": f"Bearer {token}"}) for _ in range(100)], live.url))
    codes = Counter(r.status_code for r in answers)
    assert codes == {200: 10, 409: 90}, codes
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {"insufficient_points"}
    after = live.call("GET", "/api/v1/loyalty/me", token=token).json()
    assert after["points"] == 0
    ledger = live.ok("GET", f"/api/v1/loyalty/members/{person}/ledger?limit=500")["items"]
    assert sum(e["delta"] for e in ledger) == 0 and min(e["balance"] for e in ledger) >= 0


def test_50_concurrent_checkins_give_one_reward(live: Live) -> None:
    (token,) = members(live, 1)
    before = live.call("POST", "/api/v1/loyalty/members", {"channel": "web"}, token=token).json()["points"]
    answers = asyncio.run(gather([("POST", "/api/v1/loyalty/checkin", {"channel": ch},
                                   {"Authorization": f"Bearer {token}"})
                                  for ch in ("miniprogram", "web", "app") * 16 + ("app", "web")], live.url))
    codes = Counter(r.status_code for r in answers)
    assert codes == {200: 1, 409: 49}, codes
    after = live.call("GET", "/api/v1/loyalty/me", token=token).json()
    assert after["points"] == before + 5 and after["checked_in_today"] and after["streak"] == 1


def test_concurrent_orders_claim_a_points_plus_money_redemption_once(live: Live) -> None:
    wh = live.ok("POST", "/api/v1/catalog/locations", {"code": "WH", "name": "仓", "kind": "warehouse"})["id"]
    sku = live.ok("POST", "/api/v1/catalog/products", {"title": "换购款", "skus": [
        {"code": "MALL", "listings": {ch: {"price_fen": 19900} for ch in CHANNELS}}]})["skus"][0]["id"]
    live.ok("PUT", f"/api/v1/catalog/stock/{sku}/{wh}", {"on_hand": 50})
    item = live.ok("POST", "/api/v1/loyalty/mall/items", {"title": "换购", "kind": "goods", "sku_id": sku,
                                                          "points": 60, "cash_fen": 990, "stock": 1})
    (token,) = members(live, 1)
    auth = {"Authorization": f"Bearer {token}"}
    person = live.call("POST", "/api/v1/loyalty/members", {"channel": "app"}, token=token).json()["person_id"]
    for round_ in range(REPEAT):
        before = live.call("GET", "/api/v1/loyalty/me", token=token).json()["points"]
        red = live.call("POST", f"/api/v1/loyalty/mall/items/{item['id']}/redeem", {"channel": "app"}, token=token)
        assert red.status_code == 201, red.text
        body = [{"channel": ch, "lines": [{"sku_id": sku, "quantity": 1}], "address": ADDRESS,
                 "promotion": red.json()["promotion"]} for ch in CHANNELS]
        answers = asyncio.run(gather([("POST", "/api/v1/orders", body[i % 3], auth) for i in range(20)], live.url))
        codes = Counter((r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else None) for r in answers)
        assert codes == {(201, None): 1, (409, "redemption_not_payable"): 19}, codes
        order = next(r.json() for r in answers if r.status_code == 201)
        assert order["total_fen"] == 990
        cancels = asyncio.run(gather([("POST", f"/api/v1/orders/{order['id']}/cancel", None, auth)] * 10, live.url))
        assert Counter(r.status_code for r in cancels)[200] == 1
        deadline = time.monotonic() + 60
        while live.call("GET", "/api/v1/loyalty/me", token=token).json()["points"] != before:
            assert time.monotonic() < deadline, f"round {round_}: the points did not come back"
            time.sleep(0.2)
    ledger = live.ok("GET", f"/api/v1/loyalty/members/{person}/ledger?limit=500")["items"]
    assert Counter(e["kind"] for e in ledger if e["kind"] in ("redeem", "restore")) == {"redeem": REPEAT,
                                                                                           "restore": REPEAT}
    assert live.ok("GET", "/api/v1/loyalty/mall/items")[0]["stock"] == 1
