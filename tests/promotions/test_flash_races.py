"""Flash-sale races against a live ``siyu serve``, on the embedded runtime (SQLite: the database store)
and the server runtime (PostgreSQL, RabbitMQ, Redis: the Redis store), each repeated
``SIYU_TEST_RACE_REPEAT`` times (3 by default and in CI)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis

from siyu.orders.providers import sign
from siyu.promotions.flash.redis_store import keys
from tests.orders.live import REPEAT, Live, live
from tests.orders.shop import ADDRESS, WEBHOOK_SECRET

__all__ = ["live"]

F = "/api/v1/promotions/flash-sales"


async def fire(url: str, requests: list[tuple[str, str, Any, str]], connections: int = 500
               ) -> list[tuple[int, Any]]:
    """Send every request (method, path, JSON body, bearer token) over ``connections`` keep-alive
    connections opened beforehand and released together; (status, JSON answer) in request order."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    out: list[tuple[int, Any]] = [(0, None)] * len(requests)
    todo = iter(range(len(requests)))
    gate = asyncio.Event()
    lost: list[tuple[int, str]] = []

    async def conn() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            await gate.wait()
            for i in todo:
                method, path, body, token = requests[i]
                raw = json.dumps(body).encode()
                writer.write(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                             f"Authorization: Bearer {token}\r\nContent-Length: {len(raw)}\r\n\r\n".encode() + raw)
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = next(int(line[15:]) for line in head.split(b"\r\n")
                                  if line[:15].lower() == b"content-length:")
                    answer = await reader.readexactly(length)
                except (ConnectionError, asyncio.IncompleteReadError) as exc:
                    lost.append((i, repr(exc)))
                    return
                out[i] = (int(head[9:12]), json.loads(answer) if answer else None)
        finally:
            writer.close()

    tasks = [asyncio.ensure_future(conn()) for _ in range(min(connections, len(requests)))]
    await asyncio.sleep(0.5)
    gate.set()
    await asyncio.gather(*tasks)
    assert not lost, f"{len(lost)} answers lost, e.g. {lost[:3]}"
    return out


def run(live: Live, requests: list[tuple[str, str, Any, str]], connections: int = 500) -> list[tuple[int, Any]]:
    return asyncio.run(fire(live.url, requests, connections))


def members(live: Live, n: int) -> list[str]:
    """Member tokens of ``n`` customers, logged in concurrently (``tests.orders.live.members`` logs in one
    at a time: a minute for 1,000)."""
    answers = run(live, [("POST", "/api/v1/identity/login", {"phone": f"1391{i:07d}"}, live.admin)
                         for i in range(n)], 50)
    assert {s for s, _ in answers} == {200}, answers[:3]
    return [a["member_token"] for _, a in answers]


def catalog(live: Live, units: int) -> str:
    wh = live.ok("POST", "/api/v1/catalog/locations", {"code": "WH", "name": "仓", "kind": "warehouse"})["id"]
    listings = {ch: {"price_fen": 19900} for ch in ("miniprogram", "web", "app")}
    sku = live.ok("POST", "/api/v1/catalog/products",
                  {"title": "秒杀款", "skus": [{"code": "FLASH", "listings": listings}]})["skus"][0]["id"]
    live.ok("PUT", f"/api/v1/catalog/stock/{sku}/{wh}", {"on_hand": units})
    return str(sku)


def flash_sale(live: Live, sku: str, quota: int, ttl_s: int = 60) -> str:
    now = datetime.now(UTC)
    fs = live.ok("POST", F, {"name": "秒杀", "sku_id": sku, "price_fen": 100, "quota": quota,
                             "per_member_limit": 1, "reservation_ttl_s": ttl_s,
                             "starts_at": (now - timedelta(seconds=1)).isoformat(),
                             "ends_at": (now + timedelta(hours=1)).isoformat()})
    assert fs["counter"] == ("redis" if server(live) else "db"), fs  # the store each runtime is meant to use
    return str(fs["id"])


def server(live: Live) -> bool:
    return live.database_url.startswith("postgresql")


def on_server(live: Live, expected: tuple[int, int, int]) -> tuple[int, int, int] | None:
    return expected if server(live) else None


def redis_client() -> redis.Redis | None:
    """The Redis the server runtime's tests use (SIYU_TEST_REDIS_URL), or None when there is none."""
    url = os.environ.get("SIYU_TEST_REDIS_URL", "")
    return redis.Redis.from_url(url, decode_responses=True) if url else None


def in_redis(live: Live, session_id: str) -> tuple[int, int, int] | None:
    """What Redis itself holds for a flash sale, read with redis-py from the keys the Redis store writes
    (``siyu.promotions.flash.redis_store.keys``): (quota remaining, units the customers hold, reservations
    counted). The server runtime must have them; the embedded runtime must not have written any (None)."""
    client = redis_client()
    if client is None:
        assert not server(live)
        return None
    with client:
        cfg, holdings, reservations, _ = keys(session_id)
        if not server(live):
            assert client.exists(cfg, holdings, reservations) == 0, "the embedded runtime wrote to Redis"
            return None
        remaining = client.hget(cfg, "remaining")
        assert remaining is not None, f"no Redis counter for {session_id}: the sale did not run on Redis"
        held = sum(int(v) for v in client.hvals(holdings))
        return int(remaining), held, int(client.hlen(reservations))


def stats(live: Live, session_id: str) -> dict[str, Any]:
    return live.ok("GET", f"{F}/{session_id}/stats")  # type: ignore[no-any-return]


def settled(live: Live, session_id: str, timeout: float = 60, prompt: float = 5) -> dict[str, Any]:
    """The stats once no unit is held any more (sweepers and the bus consumer have run) and the quota
    counter agrees with the record. On the server runtime the units go back to Redis just after the
    record's commit (``redis_store.give_back``), so a read in between sees the row returned and Redis not
    yet: that gap must close within ``prompt`` seconds, well before the reconciler (``GRACE``, 30 s) would
    mend a lost release."""
    deadline = time.monotonic() + timeout
    while (s := stats(live, session_id))["reserved"] or s["ordered"]:
        assert time.monotonic() < deadline, s
        time.sleep(0.2)
    deadline = time.monotonic() + prompt
    while not (s := stats(live, session_id))["balanced"]:
        assert time.monotonic() < deadline, s
        time.sleep(0.1)
    return s


def order_body(reservation: dict[str, Any]) -> dict[str, Any]:
    return {"channel": "app", "lines": [{"sku_id": reservation["sku_id"], "quantity": 1}], "address": ADDRESS,
            "promotion": reservation["promotion"]}


def expire_now(live: Live, table: str, column: str, ids: list[str]) -> None:
    """Time passes for these rows: their deadline is a second ago (ids are Siyu's own, safe to inline)."""
    if ids:
        assert all(i.isalnum() for i in ids)
        live.sql(f"UPDATE {table} SET {column} = :t WHERE id IN ({', '.join(repr(i) for i in ids)})",
                 t=datetime.now(UTC) - timedelta(seconds=1))


def test_10000_attempts_on_100_units_reserve_exactly_100_and_strand_nothing(live: Live) -> None:
    """One live server per runtime; each repeat is a fresh sale of 100 units that 1,000 members (one unit
    each) attempt 10,000 times, over 1,000 connections released together."""
    sku = catalog(live, 100 * REPEAT)
    tokens = members(live, 1000)
    sold_total = 0
    for rep in range(REPEAT):
        fs = flash_sale(live, sku, 100)
        answers = run(live, [("POST", f"{F}/{fs}/attempts", {"channel": "app"}, tokens[i % 1000])
                             for i in range(10_000)], 1000)
        codes = Counter(a["error"]["code"] if s != 201 else 201 for s, a in answers)
        assert codes[201] == 100 and set(codes) <= {201, "flash_sold_out", "flash_limit_reached"}, (rep, codes)
        won = [(tokens[i % 1000], a) for i, (s, a) in enumerate(answers) if s == 201]
        assert len({t for t, _ in won}) == len({a["person_id"] for _, a in won}) == 100  # one per member
        assert stats(live, fs) | {"session_id": ""} == {"session_id": "", "quota": 100, "remaining": 0,
                                                        "reserved": 100, "ordered": 0, "sold": 0, "returned": 0,
                                                        "balanced": True}
        assert in_redis(live, fs) == on_server(live, (0, 100, 100))  # the quota was taken in Redis
        # random fates: paid, order left unpaid past its deadline, order cancelled, reservation never used
        rnd = random.Random(rep)
        fates = [rnd.choice(["pay", "order_timeout", "cancel", "unused"]) for _ in won]
        to_order = [(t, r, f) for (t, r), f in zip(won, fates, strict=True) if f != "unused"]
        placed = run(live, [("POST", "/api/v1/orders", order_body(r), t) for t, r, _ in to_order])
        assert {s for s, _ in placed} == {201}, [a for s, a in placed if s != 201][:3]
        orders = {f: [a for (s, a), (_, _, g) in zip(placed, to_order, strict=True) if g == f]
                  for f in ("pay", "order_timeout", "cancel")}
        results = run(live, [("POST", f"/api/v1/orders/{o['id']}/payments", {"provider": "manual"}, live.admin)
                             for o in orders["pay"]]
                      + [("POST", f"/api/v1/orders/{o['id']}/cancel", {"reason": "race"}, live.admin)
                         for o in orders["cancel"]])
        assert {s for s, _ in results} <= {200, 201}, results[:3]
        expire_now(live, "orders", "reserve_expires_at", [o["id"] for o in orders["order_timeout"]])
        expire_now(live, "flash_reservations", "expires_at",
                   [r["id"] for (_, r), f in zip(won, fates, strict=True) if f == "unused"])
        s = settled(live, fs)
        paid = len(orders["pay"])
        assert (s["sold"], s["remaining"], s["returned"], s["balanced"]) == (paid, 100 - paid, 100 - paid, True)
        # Redis agrees with the record once reconciled: the units that came back are back in its quota, and
        # it still counts the sold units (one per paying customer) against their limit
        assert in_redis(live, fs) == on_server(live, (100 - paid, paid, paid)), paid
        sold_total += paid
        # the units that came back are there to be won again, exactly: no more, no fewer
        payers = {t for (t, _), f in zip(won, fates, strict=True) if f == "pay"}
        others = [t for t in tokens if t not in payers]
        again = run(live, [("POST", f"{F}/{fs}/attempts", {"channel": "app"}, others[i % len(others)])
                           for i in range(1000)])
        assert Counter(s for s, _ in again)[201] == 100 - paid
        after = stats(live, fs)
        assert (after["remaining"], after["reserved"], after["balanced"]) == (0, 100 - paid, True)
        assert in_redis(live, fs) == on_server(live, (0, 100, 100))
    levels = live.ok("GET", f"/api/v1/catalog/skus/{sku}/stock")
    assert sum(r["on_hand"] for r in levels) == 100 * REPEAT - sold_total  # stock agrees: nothing oversold


def _signed(body: bytes) -> dict[str, str]:
    return {"Siyu-Signature": sign(WEBHOOK_SECRET, body), "Content-Type": "application/json"}


def test_a_late_payment_after_the_reservation_came_back_is_refused_and_refunded(live: Live) -> None:
    """seckill #41: the unit went back to the quota on the payment timeout; the late payment must not
    also buy it."""
    sku = catalog(live, 5)
    late, early = members(live, 2)
    for _ in range(REPEAT):
        fs = flash_sale(live, sku, 1)
        r = live.call("POST", f"{F}/{fs}/attempts", {"channel": "app"}, token=late).json()
        order = live.call("POST", "/api/v1/orders", order_body(r), token=late).json()
        ref = live.call("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "webhook"}, token=late)
        assert ref.status_code == 201, ref.text
        # time passes: the order's deadline runs out; the sweeper cancels it and the unit goes back
        expire_now(live, "orders", "reserve_expires_at", [order["id"]])
        assert settled(live, fs)["remaining"] == 1
        # someone else wins the returned unit and pays for it
        other = live.call("POST", f"{F}/{fs}/attempts", {"channel": "app"}, token=early)
        assert other.status_code == 201, other.text
        bought = live.call("POST", "/api/v1/orders", order_body(other.json()), token=early).json()
        assert live.call("POST", f"/api/v1/orders/{bought['id']}/payments", {"provider": "manual"}).status_code \
            == 201
        # then the provider reports the first customer's payment
        data = {"payment_ref": ref.json()["provider_ref"], "amount_fen": order["total_fen"]}
        cb = json.dumps({"id": f"evt-{order['id']}", "type": "payment.succeeded", "data": data}).encode()
        answer = httpx.post(live.url + "/api/v1/payments/webhook", content=cb, headers=_signed(cb), timeout=30)
        assert answer.status_code == 200 and answer.json()["outcome"] == "refused", answer.text
        after = live.ok("GET", f"/api/v1/orders/{order['id']}")
        assert after["status"] == "cancelled" and [p["status"] for p in after["payments"]] == ["refused"]
        assert [rf["amount_fen"] for rf in after["refunds"]] == [order["total_fen"]]
        s = settled(live, fs)
        assert (s["sold"], s["remaining"], s["balanced"]) == (1, 0, True), s  # one unit, sold once
        assert live.call("GET", f"/api/v1/promotions/flash-reservations/{r['id']}", token=late).json()["status"] \
            == "released"
