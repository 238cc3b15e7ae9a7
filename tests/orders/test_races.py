"""Races against a live ``siyu serve`` with truly concurrent requests, on the embedded runtime (SQLite,
local bus) and the server runtime (PostgreSQL, RabbitMQ)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx

from siyu.orders.providers import sign
from tests.orders.live import Live, gather, live, members
from tests.orders.shop import ADDRESS, WEBHOOK_SECRET

__all__ = ["live"]


def shop(live: Live, units: int) -> tuple[str, str]:
    """A SKU sold in every channel with ``units`` in one warehouse; returns (sku id, warehouse id)."""
    wh = live.ok("POST", "/api/v1/catalog/locations", {"code": "WH", "name": "仓", "kind": "warehouse"})["id"]
    listings = {ch: {"price_fen": 990} for ch in ("miniprogram", "web", "app")}
    product = live.ok("POST", "/api/v1/catalog/products",
                      {"title": "限量款", "skus": [{"code": "LIMITED", "listings": listings}]})
    sku = product["skus"][0]["id"]
    live.ok("PUT", f"/api/v1/catalog/stock/{sku}/{wh}", {"on_hand": units})
    return sku, wh


def stock(live: Live, sku: str) -> tuple[int, int]:
    rows = live.ok("GET", f"/api/v1/catalog/skus/{sku}/stock")
    return sum(r["on_hand"] for r in rows), sum(r["reserved"] for r in rows)


def test_200_concurrent_orders_for_50_units_reserve_exactly_50(live: Live) -> None:
    sku, _ = shop(live, 50)
    tokens = members(live, 20)
    body = {"channel": "app", "lines": [{"sku_id": sku, "quantity": 1}], "address": ADDRESS}
    answers = asyncio.run(gather([("POST", "/api/v1/orders", body, {"Authorization": f"Bearer {tokens[i % 20]}"})
                                  for i in range(200)], live.url))
    codes = Counter(r.status_code for r in answers)
    errors = Counter(r.json()["error"]["code"] for r in answers if r.status_code != 201)
    assert codes == {201: 50, 409: 150}, (codes, errors)
    assert errors == {"out_of_stock": 150}
    assert stock(live, sku) == (50, 50)
    # paying every order deducts exactly the 50 units
    paid = asyncio.run(gather([("POST", f"/api/v1/orders/{r.json()['id']}/payments", {"provider": "manual"},
                                {"Authorization": f"Bearer {live.admin}"}) for r in answers
                               if r.status_code == 201], live.url))
    assert Counter(r.status_code for r in paid) == {201: 50}
    assert stock(live, sku) == (0, 0)


def _callback(event_id: str, ref: str, amount: int) -> bytes:
    return json.dumps({"id": event_id, "type": "payment.succeeded",
                       "data": {"payment_ref": ref, "amount_fen": amount}}).encode()


def _signed(body: bytes) -> dict[str, str]:
    return {"Siyu-Signature": sign(WEBHOOK_SECRET, body), "Content-Type": "application/json"}


def test_a_payment_after_the_reservation_timed_out_is_refused_and_refunded(live: Live) -> None:
    sku, _ = shop(live, 1)
    late, early = members(live, 2)
    body = {"channel": "miniprogram", "lines": [{"sku_id": sku, "quantity": 1}], "address": ADDRESS}
    order = live.call("POST", "/api/v1/orders", body, token=late).json()
    ref = live.call("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "webhook"}, token=late)
    assert ref.status_code == 201, ref.text
    # time passes: the reservation runs out and the sweeper (in the server's worker) releases the stock
    live.sql("UPDATE orders SET reserve_expires_at = :t WHERE id = :id",
             t=datetime.now(UTC) - timedelta(seconds=1), id=order["id"])
    deadline = time.monotonic() + 30
    while live.ok("GET", f"/api/v1/orders/{order['id']}")["status"] != "cancelled":
        assert time.monotonic() < deadline, "the sweeper did not cancel the expired order"
        time.sleep(0.2)
    assert stock(live, sku) == (1, 0)
    # someone else buys the released unit
    other = live.call("POST", "/api/v1/orders", body, token=early)
    assert other.status_code == 201, other.text
    # then the provider reports the first customer's payment
    cb = _callback("evt-late", ref.json()["provider_ref"], order["total_fen"])
    answer = httpx.post(live.url + "/api/v1/payments/webhook", content=cb, headers=_signed(cb), timeout=30)
    assert answer.status_code == 200 and answer.json()["outcome"] == "refused", answer.text
    after = live.ok("GET", f"/api/v1/orders/{order['id']}")
    assert after["status"] == "cancelled" and after["cancel_reason"] == "payment_timeout"
    assert [p["status"] for p in after["payments"]] == ["refused"]
    assert [(r["amount_fen"], r["reason"]) for r in after["refunds"]] == [(990, "order_cancelled")]
    assert stock(live, sku) == (1, 1)  # never oversold: the one unit is the other customer's


def test_repeated_and_concurrent_callbacks_make_one_payment(live: Live) -> None:
    sku, _ = shop(live, 5)
    (token,) = members(live, 1)
    body = {"channel": "web", "lines": [{"sku_id": sku, "quantity": 2}], "address": ADDRESS}
    order = live.call("POST", "/api/v1/orders", body, token=token).json()
    ref = live.call("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "webhook"},
                    token=token).json()["provider_ref"]
    same = _callback("evt-1", ref, order["total_fen"])
    requests = [("POST", "/api/v1/payments/webhook", same, _signed(same)) for _ in range(20)]
    for i in range(10):  # a provider that re-sends with new ids
        other = _callback(f"evt-retry-{i}", ref, order["total_fen"])
        requests.append(("POST", "/api/v1/payments/webhook", other, _signed(other)))
    answers = asyncio.run(gather(requests, live.url))
    assert {r.status_code for r in answers} == {200}, [r.text for r in answers if r.status_code != 200]
    outcomes = Counter(r.json()["outcome"] for r in answers)
    assert outcomes["duplicate"] == 19 and outcomes["succeeded"] == 11, outcomes
    after = live.ok("GET", f"/api/v1/orders/{order['id']}")
    assert after["status"] == "paid" and after["paid_fen"] == order["total_fen"]
    assert [p["status"] for p in after["payments"]] == ["succeeded"] and after["refunds"] == []
    assert stock(live, sku) == (3, 0)
