"""One regression test per row of the "where real malls break" table (reference/growth-mechanics.md)
that belongs to coupons, points, stock and payments. Group-buy rows are in test_groupbuy*.py and the
flash-sale row in test_flash*.py. Each races a live server (embedded runtime) with truly concurrent requests
where the original bug was a race."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from siyu.orders.providers import sign
from tests.orders.live import Live, gather, live, members
from tests.orders.shop import ADDRESS, WEBHOOK_SECRET

__all__ = ["live"]


@pytest.fixture
def shop(live: Live) -> tuple[Live, str]:
    wh = live.ok("POST", "/api/v1/catalog/locations", {"code": "WH", "name": "仓", "kind": "warehouse"})["id"]
    listings = {ch: {"price_fen": 19900} for ch in ("miniprogram", "web", "app")}
    sku = live.ok("POST", "/api/v1/catalog/products",
                  {"title": "围巾", "skus": [{"code": "S", "listings": listings}]})["skus"][0]["id"]
    live.ok("PUT", f"/api/v1/catalog/stock/{sku}/{wh}", {"on_hand": 1000})
    return live, sku


def coupon_template(live: Live, **kw: Any) -> str:
    body = {"name": "券", "kind": "fixed", "amount_fen": 1000, "valid_days": 7, **kw}
    return str(live.ok("POST", "/api/v1/promotions/coupon-templates", body)["id"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_litemall_581_a_coupon_with_total_1_is_issued_once_under_64_concurrent_claims(shop: tuple[Live, str]) -> None:
    live, _ = shop
    tokens = members(live, 64)
    t = coupon_template(live, total=1)
    answers = asyncio.run(gather([("POST", f"/api/v1/promotions/coupon-templates/{t}/claim", {"channel": "app"},
                                   bearer(tok)) for tok in tokens], live.url))
    assert Counter(r.status_code for r in answers) == {201: 1, 409: 63}


def test_mall_1003_one_coupon_on_5_concurrent_orders_and_never_a_negative_total(shop: tuple[Live, str]) -> None:
    live, sku = shop
    (token,) = members(live, 1)
    huge = coupon_template(live, amount_fen=1_000_000)  # worth far more than the order
    cid = live.call("POST", f"/api/v1/promotions/coupon-templates/{huge}/claim", {"channel": "web"},
                    token=token).json()["id"]
    body = {"channel": "web", "lines": [{"sku_id": sku, "quantity": 1}], "address": ADDRESS, "coupons": [cid]}
    answers = asyncio.run(gather([("POST", "/api/v1/orders", body, bearer(token)) for _ in range(5)], live.url))
    won = [r.json() for r in answers if r.status_code == 201]
    assert len(won) == 1
    assert won[0]["total_fen"] == 0 and won[0]["discount_fen"] == 19900  # capped at what the goods cost


def test_litemall_verify_coupon_owner_and_status_are_checked_at_use(shop: tuple[Live, str]) -> None:
    live, sku = shop
    owner, thief = members(live, 2)
    t = coupon_template(live, per_member_limit=1)
    cid = live.call("POST", f"/api/v1/promotions/coupon-templates/{t}/claim", {"channel": "app"},
                    token=owner).json()["id"]
    body = {"channel": "app", "lines": [{"sku_id": sku, "quantity": 1}], "address": ADDRESS, "coupons": [cid]}
    stolen = live.call("POST", "/api/v1/orders", body, token=thief)
    assert stolen.status_code == 422 and stolen.json()["error"]["details"]["reason"] == "coupon_not_found"
    first = live.call("POST", "/api/v1/orders", body, token=owner).json()
    live.ok("POST", f"/api/v1/orders/{first['id']}/payments", {"provider": "manual"})
    again = live.call("POST", "/api/v1/orders", body, token=owner)
    assert again.status_code == 422 and again.json()["error"]["details"]["reason"] == "coupon_in_use"


def test_macrozheng_points_are_never_a_stale_absolute_value(shop: tuple[Live, str]) -> None:
    """Concurrent grants and spends: the balance is exactly what the ledger says, and never negative."""
    live, _ = shop
    (token,) = members(live, 1)
    person = live.call("POST", "/api/v1/loyalty/members", {"channel": "app"}, token=token).json()["person_id"]
    reqs = []
    for i in range(60):
        if i % 2:
            reqs.append(("POST", f"/api/v1/loyalty/members/{person}/points/adjust", {"points": 7, "reason": "grant"},
                         bearer(live.admin)))
        else:
            reqs.append(("POST", f"/api/v1/loyalty/members/{person}/points/spend", {"points": 11}, bearer(token)))
    answers = asyncio.run(gather(reqs, live.url))
    spent = sum(1 for r, q in zip(answers, reqs, strict=True) if "spend" in q[1] and r.status_code == 200)
    assert all(r.status_code in (200, 409) for r in answers)
    me = live.call("GET", "/api/v1/loyalty/me", token=token).json()
    assert me["points"] == 100 + 30 * 7 - spent * 11 >= 0
    ledger = live.ok("GET", f"/api/v1/loyalty/members/{person}/ledger?limit=500")["items"]
    assert sum(e["delta"] for e in ledger) == me["points"] and min(e["balance"] for e in ledger) >= 0


def test_crmeb_stock_is_never_decremented_below_zero(shop: tuple[Live, str]) -> None:
    live, sku = shop
    wh = live.ok("GET", "/api/v1/catalog/locations")[0]["id"]
    live.ok("PUT", f"/api/v1/catalog/stock/{sku}/{wh}", {"on_hand": 3})
    tokens = members(live, 30)
    body = {"channel": "miniprogram", "lines": [{"sku_id": sku, "quantity": 1}], "address": ADDRESS}
    answers = asyncio.run(gather([("POST", "/api/v1/orders", body, bearer(t)) for t in tokens], live.url))
    won = [r.json()["id"] for r in answers if r.status_code == 201]
    assert len(won) == 3
    paid = asyncio.run(gather([("POST", f"/api/v1/orders/{o}/payments", {"provider": "manual"}, bearer(live.admin))
                               for o in won], live.url))
    assert {r.status_code for r in paid} == {201}
    assert live.ok("GET", f"/api/v1/catalog/skus/{sku}/stock") == [
        {"sku_id": sku, "location_id": wh, "on_hand": 0, "reserved": 0, "available": 0}]


def test_seckill_41_a_payment_after_the_timeout_released_the_stock_is_refused(shop: tuple[Live, str]) -> None:
    live, sku = shop
    wh = live.ok("GET", "/api/v1/catalog/locations")[0]["id"]
    live.ok("PUT", f"/api/v1/catalog/stock/{sku}/{wh}", {"on_hand": 1})
    (token,) = members(live, 1)
    body = {"channel": "app", "lines": [{"sku_id": sku, "quantity": 1}], "address": ADDRESS}
    order = live.call("POST", "/api/v1/orders", body, token=token).json()
    ref = live.call("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "webhook"},
                    token=token).json()["provider_ref"]
    live.sql("UPDATE orders SET reserve_expires_at = :t WHERE id = :id", t=datetime.now(UTC) - timedelta(seconds=1),
             id=order["id"])
    deadline = time.monotonic() + 30
    while live.ok("GET", f"/api/v1/orders/{order['id']}")["status"] != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    cb = (f'{{"id": "late-1", "type": "payment.succeeded", "data": {{"payment_ref": "{ref}", '
          f'"amount_fen": {order["total_fen"]}}}}}').encode()
    r = httpx.post(live.url + "/api/v1/payments/webhook", content=cb,
                   headers={"Siyu-Signature": sign(WEBHOOK_SECRET, cb), "Content-Type": "application/json"})
    assert r.json()["outcome"] == "refused"
    assert live.ok("GET", f"/api/v1/orders/{order['id']}")["refunds"][0]["amount_fen"] == order["total_fen"]
    assert live.ok("GET", f"/api/v1/catalog/skus/{sku}/stock")[0]["reserved"] == 0


def test_litemall_163_a_cancelled_orders_coupon_comes_back(shop: tuple[Live, str]) -> None:
    live, sku = shop
    (token,) = members(live, 1)
    t = coupon_template(live)
    cid = live.call("POST", f"/api/v1/promotions/coupon-templates/{t}/claim", {"channel": "web"},
                    token=token).json()["id"]
    body = {"channel": "web", "lines": [{"sku_id": sku, "quantity": 1}], "address": ADDRESS, "coupons": [cid]}
    for how in ("customer cancels", "payment timeout", "paid then cancelled"):
        order = live.call("POST", "/api/v1/orders", body, token=token).json()
        if how == "payment timeout":
            live.sql("UPDATE orders SET reserve_expires_at = :t WHERE id = :id",
                     t=datetime.now(UTC) - timedelta(seconds=1), id=order["id"])
            deadline = time.monotonic() + 30
            while live.ok("GET", f"/api/v1/orders/{order['id']}")["status"] != "cancelled":
                assert time.monotonic() < deadline
                time.sleep(0.2)
        else:
            if how == "paid then cancelled":
                live.ok("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "manual"})
            live.call("POST", f"/api/v1/orders/{order['id']}/cancel", {}, token=token)
        mine = live.call("GET", "/api/v1/promotions/coupons", token=token).json()
        assert [c["status"] for c in mine] == ["available"], how
