"""Races against a live ``siyu serve`` with truly concurrent requests, on the embedded runtime (SQLite,
local bus) and the server runtime (PostgreSQL, RabbitMQ), each repeated ``SIYU_TEST_RACE_REPEAT`` times
(3 by default and in CI) on the same server with a fresh SKU and stock each round."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import create_engine, select

from siyu.orders.providers import sign
from siyu.outbox.models import OutboxMessage
from tests.orders.live import REPEAT, Live, gather, live, members
from tests.orders.shop import ADDRESS, WEBHOOK_SECRET

__all__ = ["live"]


def shop(live: Live, units: int, rnd: int = 0) -> tuple[str, str]:
    """A SKU sold in every channel with ``units`` in a warehouse of its own (round ``rnd`` of a repeated
    race); returns (sku id, warehouse id)."""
    wh = live.ok("POST", "/api/v1/catalog/locations", {"code": f"WH-{rnd}", "name": "仓", "kind": "warehouse"})["id"]
    listings = {ch: {"price_fen": 990} for ch in ("miniprogram", "web", "app")}
    product = live.ok("POST", "/api/v1/catalog/products",
                      {"title": "限量款", "skus": [{"code": f"LIMITED-{rnd}", "listings": listings}]})
    sku = product["skus"][0]["id"]
    live.ok("PUT", f"/api/v1/catalog/stock/{sku}/{wh}", {"on_hand": units})
    return sku, wh


def stock(live: Live, sku: str) -> tuple[int, int]:
    rows = live.ok("GET", f"/api/v1/catalog/skus/{sku}/stock")
    return sum(r["on_hand"] for r in rows), sum(r["reserved"] for r in rows)


def test_200_concurrent_orders_for_50_units_reserve_exactly_50(live: Live) -> None:
    tokens = members(live, 20)
    for rnd in range(REPEAT):
        sku, _ = shop(live, 50, rnd)
        body = {"channel": "app", "lines": [{"sku_id": sku, "quantity": 1}], "address": ADDRESS}
        answers = asyncio.run(gather([("POST", "/api/v1/orders", body,
                                       {"Authorization": f"Bearer {tokens[i % 20]}"}) for i in range(200)], live.url))
        codes = Counter(r.status_code for r in answers)
        errors = Counter(r.json()["error"]["code"] for r in answers if r.status_code != 201)
        assert codes == {201: 50, 409: 150}, (rnd, codes, errors)
        assert errors == {"out_of_stock": 150}
        assert stock(live, sku) == (50, 50)
        # paying every order deducts exactly the 50 units
        paid = asyncio.run(gather([("POST", f"/api/v1/orders/{r.json()['id']}/payments", {"provider": "manual"},
                                    {"Authorization": f"Bearer {live.admin}"}) for r in answers
                                   if r.status_code == 201], live.url))
        assert Counter(r.status_code for r in paid) == {201: 50}, rnd
        assert stock(live, sku) == (0, 0)


def _callback(event_id: str, ref: str, amount: int) -> bytes:
    return json.dumps({"id": event_id, "type": "payment.succeeded",
                       "data": {"payment_ref": ref, "amount_fen": amount}}).encode()


def _signed(body: bytes) -> dict[str, str]:
    return {"Siyu-Signature": sign(WEBHOOK_SECRET, body), "Content-Type": "application/json"}


def test_a_payment_after_the_reservation_timed_out_is_refused_and_refunded(live: Live) -> None:
    late, early = members(live, 2)
    for rnd in range(REPEAT):
        sku, _ = shop(live, 1, rnd)
        body = {"channel": "miniprogram", "lines": [{"sku_id": sku, "quantity": 1}], "address": ADDRESS}
        order = live.call("POST", "/api/v1/orders", body, token=late).json()
        ref = live.call("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "webhook"}, token=late)
        assert ref.status_code == 201, ref.text
        # time passes: the reservation runs out and the sweeper (in the server's worker) releases the stock
        live.sql("UPDATE orders SET reserve_expires_at = :t WHERE id = :id",
                 t=datetime.now(UTC) - timedelta(seconds=1), id=order["id"])
        deadline = time.monotonic() + 30
        while live.ok("GET", f"/api/v1/orders/{order['id']}")["status"] != "cancelled":
            assert time.monotonic() < deadline, f"the sweeper did not cancel the expired order (round {rnd})"
            time.sleep(0.2)
        assert stock(live, sku) == (1, 0)
        # someone else buys the released unit
        other = live.call("POST", "/api/v1/orders", body, token=early)
        assert other.status_code == 201, other.text
        # then the provider reports the first customer's payment
        cb = _callback(f"evt-late-{rnd}", ref.json()["provider_ref"], order["total_fen"])
        answer = httpx.post(live.url + "/api/v1/payments/webhook", content=cb, headers=_signed(cb), timeout=30)
        assert answer.status_code == 200 and answer.json()["outcome"] == "refused", answer.text
        after = live.ok("GET", f"/api/v1/orders/{order['id']}")
        assert after["status"] == "cancelled" and after["cancel_reason"] == "payment_timeout"
        assert [p["status"] for p in after["payments"]] == ["refused"]
        assert [(r["amount_fen"], r["reason"]) for r in after["refunds"]] == [(990, "order_cancelled")]
        assert stock(live, sku) == (1, 1)  # never oversold: the one unit is the other customer's


def test_repeated_and_concurrent_callbacks_make_one_payment(live: Live) -> None:
    (token,) = members(live, 1)
    for rnd in range(REPEAT):
        sku, _ = shop(live, 5, rnd)
        body = {"channel": "web", "lines": [{"sku_id": sku, "quantity": 2}], "address": ADDRESS}
        order = live.call("POST", "/api/v1/orders", body, token=token).json()
        ref = live.call("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "webhook"},
                        token=token).json()["provider_ref"]
        same = _callback(f"evt-{rnd}", ref, order["total_fen"])
        requests = [("POST", "/api/v1/payments/webhook", same, _signed(same)) for _ in range(20)]
        for i in range(10):  # a provider that re-sends with new ids
            other = _callback(f"evt-{rnd}-retry-{i}", ref, order["total_fen"])
            requests.append(("POST", "/api/v1/payments/webhook", other, _signed(other)))
        answers = asyncio.run(gather(requests, live.url))
        assert {r.status_code for r in answers} == {200}, [r.text for r in answers if r.status_code != 200]
        outcomes = Counter(r.json()["outcome"] for r in answers)
        assert outcomes["duplicate"] == 19 and outcomes["succeeded"] == 11, (rnd, outcomes)
        after = live.ok("GET", f"/api/v1/orders/{order['id']}")
        assert after["status"] == "paid" and after["paid_fen"] == order["total_fen"]
        assert [p["status"] for p in after["payments"]] == ["succeeded"] and after["refunds"] == []
        assert stock(live, sku) == (3, 0)


def _provider_refund(event_id: str, ref: str, refund_ref: str, amount: int) -> bytes:
    return json.dumps({"id": event_id, "type": "payment.refunded",
                       "data": {"payment_ref": ref, "refund_ref": refund_ref, "amount_fen": amount}}).encode()


def test_repeated_and_concurrent_provider_refunds_make_one_refund(live: Live) -> None:
    """A refund made in the provider's dashboard, reported 30 times at once (the same callback, and re-sent
    under new ids), beside a second refund of it that would exceed what was paid: one refund recorded, and
    the order never refunds more than it was paid."""
    (token,) = members(live, 1)
    for rnd in range(REPEAT):
        sku, _ = shop(live, 5, rnd)
        body = {"channel": "app", "lines": [{"sku_id": sku, "quantity": 2}], "address": ADDRESS}
        order = live.call("POST", "/api/v1/orders", body, token=token).json()
        ref = live.call("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "webhook"},
                        token=token).json()["provider_ref"]
        cb = _callback(f"evt-paid-{rnd}", ref, order["total_fen"])
        paid = httpx.post(live.url + "/api/v1/payments/webhook", content=cb, headers=_signed(cb), timeout=30)
        assert paid.status_code == 200 and paid.json()["outcome"] == "succeeded", paid.text
        same = _provider_refund(f"evt-r-{rnd}", ref, "re_1", 1500)
        requests = [("POST", "/api/v1/payments/webhook", same, _signed(same)) for _ in range(20)]
        for i in range(10):
            other = _provider_refund(f"evt-r-{rnd}-{i}", ref, "re_1", 1500)
            requests.append(("POST", "/api/v1/payments/webhook", other, _signed(other)))
        too_much = _provider_refund(f"evt-r-{rnd}-big", ref, "re_2", 1500)
        requests.append(("POST", "/api/v1/payments/webhook", too_much, _signed(too_much)))
        answers = asyncio.run(gather(requests, live.url))
        outcomes = Counter(r.json().get("outcome") or r.json()["error"]["code"] for r in answers)
        after = live.ok("GET", f"/api/v1/orders/{order['id']}")
        refunds = sorted((r["provider_ref"], r["amount_fen"]) for r in after["refunds"])
        # whichever of re_1 and re_2 came first was recorded; the other exceeds what was left (and a refused
        # callback is not marked handled: each of its retries is refused too)
        assert len(refunds) == 1 and after["refunded_fen"] == 1500 and after["paid_fen"] == 1980, (rnd, after)
        expected = ({"refunded": 1, "duplicate": 29, "refund_exceeds_paid": 1} if refunds[0][0] == "re_1"
                    else {"refunded": 1, "refund_exceeds_paid": 30})
        assert outcomes == expected, (rnd, outcomes)


def _failed(event_id: str, ref: str) -> bytes:
    return json.dumps({"id": event_id, "type": "payment.failed", "data": {"payment_ref": ref}}).encode()


def _post(live: Live, body: bytes) -> httpx.Response:
    return httpx.post(live.url + "/api/v1/payments/webhook", content=body, headers=_signed(body), timeout=30)


def test_concurrent_late_successes_after_a_failure_make_one_payment_or_one_refund(live: Live) -> None:
    """A payment reported failed, then succeeded 30 times at once (the same callback, and re-sent under new
    ids): applied once to the order that still waits for it; refused and refunded once when the order was
    paid by another payment meanwhile."""
    (token,) = members(live, 1)
    for rnd in range(REPEAT):
        sku, _ = shop(live, 5, rnd)
        refs: dict[str, str] = {}
        orders: dict[str, dict[str, Any]] = {}
        for name, qty in (("waiting", 2), ("paid_otherwise", 1)):
            body = {"channel": "app", "lines": [{"sku_id": sku, "quantity": qty}], "address": ADDRESS}
            orders[name] = live.call("POST", "/api/v1/orders", body, token=token).json()
            refs[name] = live.call("POST", f"/api/v1/orders/{orders[name]['id']}/payments", {"provider": "webhook"},
                                   token=token).json()["provider_ref"]
            failed = _post(live, _failed(f"evt-fail-{name}-{rnd}", refs[name]))
            assert failed.status_code == 200 and failed.json()["outcome"] == "failed", failed.text
        other = live.call("POST", f"/api/v1/orders/{orders['paid_otherwise']['id']}/payments",
                          {"provider": "webhook"}, token=token).json()["provider_ref"]
        paid = _post(live, _callback(f"evt-other-{rnd}", other, orders["paid_otherwise"]["total_fen"]))
        assert paid.status_code == 200 and paid.json()["outcome"] == "succeeded", paid.text
        requests = []
        for name, ref in refs.items():
            same = _callback(f"evt-late-{name}-{rnd}", ref, orders[name]["total_fen"])
            requests += [("POST", "/api/v1/payments/webhook", same, _signed(same)) for _ in range(20)]
            for i in range(10):
                again = _callback(f"evt-late-{name}-{rnd}-{i}", ref, orders[name]["total_fen"])
                requests.append(("POST", "/api/v1/payments/webhook", again, _signed(again)))
        answers = asyncio.run(gather(requests, live.url))
        assert {r.status_code for r in answers} == {200}, [r.text for r in answers if r.status_code != 200]
        assert Counter(r.json()["outcome"] for r in answers[:30]) == {"duplicate": 19, "succeeded": 11}, rnd
        assert Counter(r.json()["outcome"] for r in answers[30:]) == {"duplicate": 19, "refused": 11}, rnd
        waiting = live.ok("GET", f"/api/v1/orders/{orders['waiting']['id']}")
        assert (waiting["status"], waiting["paid_fen"], waiting["refunds"]) == ("paid", 1980, []), (rnd, waiting)
        assert [p["status"] for p in waiting["payments"]] == ["succeeded"]
        otherwise = live.ok("GET", f"/api/v1/orders/{orders['paid_otherwise']['id']}")
        assert (otherwise["status"], otherwise["paid_fen"], otherwise["refunded_fen"]) == ("paid", 990, 0)
        assert [p["status"] for p in otherwise["payments"]] == ["refused", "succeeded"], (rnd, otherwise)
        assert [(r["payment_id"], r["amount_fen"], r["reason"]) for r in otherwise["refunds"]] == [
            (otherwise["payments"][0]["id"], 990, "order_paid")], (rnd, otherwise)
        assert stock(live, sku) == (2, 0)  # three units sold, each once


def test_concurrent_refunds_a_cancel_and_a_shipment_lose_no_stock(live: Live) -> None:
    """One-unit refunds of every unit, the shipment and (some rounds) an operator's cancel of a paid
    four-unit order, all at once: whatever order they land in, every unit is either shipped or back in
    stock (never both, never neither), units refunded before the shipment are not in it, an order refunded
    in full before it ships is closed, and the order is refunded exactly what it was paid."""
    (token,) = members(live, 1)
    for rnd in range(REPEAT):
        sku, _ = shop(live, 6, rnd)
        body = {"channel": "web", "lines": [{"sku_id": sku, "quantity": 4}], "address": ADDRESS}
        order = live.call("POST", "/api/v1/orders", body, token=token).json()
        live.ok("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "manual"})
        live.ok("POST", f"/api/v1/orders/{order['id']}/fulfilment")
        admin = {"Authorization": f"Bearer {live.admin}"}
        one = {"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}], "reason": "缺货"}
        # odd rounds refund one unit before the race (a shipment then surely follows a refund, unless the
        # cancel wins); every third round an operator's cancel joins it
        early = rnd % 2
        for _ in range(early):
            live.ok("POST", f"/api/v1/orders/{order['id']}/refunds", one)
        requests: list[tuple[str, str, Any, dict[str, str]]] = [
            ("POST", f"/api/v1/orders/{order['id']}/refunds", one, admin) for _ in range(4 - early)]
        requests.append(("POST", f"/api/v1/orders/{order['id']}/shipments",
                         {"carrier": "SF", "tracking_number": f"SF{rnd}"}, admin))
        if rnd % 3 == 2:
            requests.append(("POST", f"/api/v1/orders/{order['id']}/cancel", {"reason": "operator"}, admin))
        answers = asyncio.run(gather(requests, live.url))
        codes = [(r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else "") for r in answers]
        assert set(codes[:4 - early]) <= {(201, ""), (409, "refund_exceeds_paid")}, (rnd, codes)
        assert set(codes[4 - early:]) <= {(200, ""), (201, ""), (409, "invalid_order_state")}, (rnd, codes)
        after = live.ok("GET", f"/api/v1/orders/{order['id']}")
        line = after["lines"][0]
        shipped = line["ship_quantity"] if after["status"] == "shipped" else 0
        assert after["status"] in ("shipped", "cancelled"), (rnd, after)
        assert (after["status"] == "shipped") == (codes[4 - early] == (201, "")), (rnd, codes, after)
        assert stock(live, sku) == (6 - shipped, 0), (rnd, codes, after)
        assert line["cancelled_quantity"] == 4 - shipped, (rnd, after)
        assert after["refunded_fen"] == after["paid_fen"] == 4 * 990, (rnd, after)
        assert sum(r["amount_fen"] for r in after["refunds"]) == 4 * 990, (rnd, after)
        if after["status"] == "shipped":
            # the shipment left without exactly the units refunded before it (each change of the order holds
            # its row, so the outbox has them in the order they happened), and never left empty
            topics = [t for t in _order_topics(live, order["id"]) if t in ("orders.refunded", "orders.shipped")]
            assert 4 - shipped == topics.index("orders.shipped") and shipped > 0, (rnd, topics, after)


def _order_topics(live: Live, order_id: str) -> list[str]:
    """The order's domain events, in the order they were written."""
    engine = create_engine(live.database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(OutboxMessage.topic, OutboxMessage.payload).order_by(OutboxMessage.seq)).all()
    finally:
        engine.dispose()
    return [topic for topic, payload in rows if payload["data"].get("order_id") == order_id]


def test_a_payment_racing_cancels_is_either_refused_or_refunded_in_full(live: Live) -> None:
    """A manual payment and three cancels (two by the customer, one by an operator) of the same unpaid
    two-unit order at once. Whichever lands first, exactly one cancel wins, nothing answers 5xx, the two
    units are back in stock exactly once (released if unpaid, restocked if paid), and money taken is
    refunded in full. A cancel that read "unpaid" before the payment landed must not release a
    reservation the payment already deducted, nor skip the refund."""
    (token,) = members(live, 1)
    admin = {"Authorization": f"Bearer {live.admin}"}
    member = {"Authorization": f"Bearer {token}"}
    outcomes: Counter[str] = Counter()
    for rnd in range(REPEAT):
        sku, _ = shop(live, 5, rnd)
        body = {"channel": "app", "lines": [{"sku_id": sku, "quantity": 2}], "address": ADDRESS}
        order = live.call("POST", "/api/v1/orders", body, token=token).json()
        path = f"/api/v1/orders/{order['id']}"
        answers = asyncio.run(gather([
            ("POST", f"{path}/payments", {"provider": "manual"}, admin),
            ("POST", f"{path}/cancel", {"reason": "changed_mind"}, member),
            ("POST", f"{path}/cancel", {"reason": "changed_mind"}, member),
            ("POST", f"{path}/cancel", {"reason": "operator"}, admin)], live.url))
        codes = [(r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else "") for r in answers]
        assert codes[0] in ((201, ""), (409, "invalid_order_state")), (rnd, codes)
        assert sorted(codes[1:]) == [(200, ""), (409, "invalid_order_state"), (409, "invalid_order_state")], \
            (rnd, codes)
        after = live.ok("GET", path)
        assert after["status"] == "cancelled", (rnd, after)
        assert stock(live, sku) == (5, 0), (rnd, codes, after)
        paid = codes[0] == (201, "")
        outcomes["paid first" if paid else "cancelled first"] += 1
        assert after["paid_fen"] == (order["total_fen"] if paid else 0), (rnd, after)
        assert after["refunded_fen"] == after["paid_fen"], (rnd, after)
        assert sum(r["amount_fen"] for r in after["refunds"]) == after["paid_fen"], (rnd, after)
    assert sum(outcomes.values()) == REPEAT, outcomes


def test_concurrent_wrong_pickup_codes_get_no_more_than_the_allowed_attempts(live: Live) -> None:
    """30 wrong codes at once for one order waiting at a store: exactly the policy's 5 attempts are
    compared (answered ``wrong_pickup_code``), every other guess is ``pickup_locked``; after the store
    unlocks it, the right code completes the order."""
    (token,) = members(live, 1)
    admin = {"Authorization": f"Bearer {live.admin}"}
    for rnd in range(REPEAT):
        sku, _ = shop(live, 3, rnd)
        store = live.ok("POST", "/api/v1/catalog/locations",
                        {"code": f"STORE-{rnd}", "name": "门店", "kind": "store", "pickup": True})["id"]
        live.ok("PUT", f"/api/v1/catalog/stock/{sku}/{store}", {"on_hand": 3})
        body = {"channel": "miniprogram", "lines": [{"sku_id": sku, "quantity": 1}], "fulfilment": "pickup",
                "pickup_location_id": store}
        order = live.call("POST", "/api/v1/orders", body, token=token).json()
        path = f"/api/v1/orders/{order['id']}"
        live.ok("POST", f"{path}/payments", {"provider": "manual"})
        code = live.ok("POST", f"{path}/ready-for-pickup")["pickup_code"]
        wrong = [f"{(int(code) + k) % 1_000_000:06d}" for k in range(1, 31)]
        answers = asyncio.run(gather([("POST", f"{path}/pickup", {"code": w}, admin) for w in wrong], live.url))
        errors = Counter(r.json()["error"]["code"] if r.status_code >= 400 else r.status_code for r in answers)
        assert errors == {"wrong_pickup_code": 5, "pickup_locked": 25}, (rnd, errors)
        assert live.call("POST", f"{path}/pickup", {"code": code}).json()["error"]["code"] == "pickup_locked"
        live.ok("POST", f"{path}/pickup/unlock")
        assert live.ok("POST", f"{path}/pickup", {"code": code})["status"] == "completed"
