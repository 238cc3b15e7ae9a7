"""Group-buy races against a live ``siyu serve``, on the embedded runtime (SQLite, local bus) and the
server runtime (PostgreSQL, RabbitMQ), repeated ``SIYU_TEST_RACE_REPEAT`` times (3 by default and in CI):
50 customers join a 3-person group at the same instant and pay at the same instant; exactly 3 seats are
filled and every other payment is refused or refunded, once."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from typing import Any

import pytest

from tests.orders.live import Live, gather, live, members
from tests.orders.shop import ADDRESS

__all__ = ["live"]

REPEAT = int(os.environ.get("SIYU_TEST_RACE_REPEAT", "3"))
GB = "/api/v1/promotions/group-buys"


def _sku(live: Live, units: int) -> str:
    wh = live.ok("POST", "/api/v1/catalog/locations", {"code": "WH", "name": "仓", "kind": "warehouse"})["id"]
    listings = {ch: {"price_fen": 19900} for ch in ("miniprogram", "web", "app")}
    sku: str = live.ok("POST", "/api/v1/catalog/products",
                       {"title": "拼团款", "skus": [{"code": "GROUP", "listings": listings}]})["skus"][0]["id"]
    live.ok("PUT", f"/api/v1/catalog/stock/{sku}/{wh}", {"on_hand": units})
    return sku


def _until(check: Any, what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return found


def _order(sku: str, promotion: str, channel: str) -> dict[str, Any]:
    return {"channel": channel, "lines": [{"sku_id": sku, "quantity": 1}], "address": ADDRESS,
            "promotion": {"kind": "group_buy", "id": promotion}}


def _one_race(live: Live, sku: str, tokens: list[str], round_: int) -> None:
    rule = live.ok("POST", f"{GB}/rules", {"name": f"三人团 {round_}", "sku_id": sku, "group_price_fen": 9900,
                                           "leader_price_fen": 8900, "size": 3, "duration_minutes": 60})
    leader = live.call("POST", "/api/v1/orders", _order(sku, f"rule:{rule['id']}", "app"), token=tokens[0]).json()
    assert live.call("POST", f"/api/v1/orders/{leader['id']}/payments", {"provider": "manual"}).status_code == 201
    group = _until(lambda: (g := live.ok("GET", f"{GB}/orders/{leader['id']}"))["status"] == "forming" and g,
                   "the leader's payment did not open the group")
    gid = group["id"]
    channels = ("miniprogram", "web", "app")
    joins = asyncio.run(gather([("POST", "/api/v1/orders", _order(sku, gid, channels[i % 3]),
                                 {"Authorization": f"Bearer {t}"}) for i, t in enumerate(tokens[1:])], live.url))
    assert Counter(r.status_code for r in joins) == {201: 50}, [r.text for r in joins if r.status_code != 201][:3]
    orders = [r.json() for r in joins]
    paid = asyncio.run(gather([("POST", f"/api/v1/orders/{o['id']}/payments", {"provider": "manual"},
                                {"Authorization": f"Bearer {live.admin}"}) for o in orders], live.url))
    # a payment is taken (and refunded if it finds no seat), or refused outright when the group filled and
    # the sweeper cancelled the unpaid order first
    refused = {o["id"] for o, r in zip(orders, paid, strict=True) if r.status_code != 201}
    assert all(r.status_code == 409 and r.json()["error"]["code"] == "invalid_order_state"
               for r in paid if r.status_code != 201), [r.text for r in paid if r.status_code != 201][:3]
    rows = _until(lambda: (m := live.ok("GET", f"{GB}/groups/{gid}/members"))
                  and not any(x["status"] == "pending" for x in m) and m, "the payments were not all handled")
    g = live.ok("GET", f"{GB}/groups/{gid}")
    assert (g["status"], g["seats_paid"], [s["seat"] for s in g["seats"]]) == ("succeeded", 3, [1, 2, 3])
    assert Counter((m["status"], m["reason"]) for m in rows) == {
        k: v for k, v in {("seated", None): 3, ("refused", "group_full"): 48 - len(refused),
                          ("cancelled", "group_full"): len(refused)}.items() if v}
    seated = {m["order_id"] for m in rows if m["status"] == "seated"}
    for o in [leader, *orders]:
        after = live.ok("GET", f"/api/v1/orders/{o['id']}")
        if o["id"] in seated:
            assert (after["status"], after["refunds"]) == ("paid", []), after
        else:
            assert (after["status"], after["cancel_reason"]) == ("cancelled", "group_full"), after
            back = [] if o["id"] in refused else [(9900, "order_cancelled")]  # refunded once, if it was paid
            assert [(r["amount_fen"], r["reason"]) for r in after["refunds"]] == back, after


@pytest.mark.timeout(180 + 150 * REPEAT)
def test_50_concurrent_joins_of_a_3_person_group_fill_exactly_3_seats(live: Live) -> None:
    sku = _sku(live, 51 + 3 * REPEAT)
    tokens = members(live, 51)  # a leader and 50 joiners; a new rule each round, so each may join again
    for round_ in range(REPEAT):
        _one_race(live, sku, tokens, round_)
    stock = live.ok("GET", f"/api/v1/catalog/skus/{sku}/stock")
    assert [(s["on_hand"], s["reserved"]) for s in stock] == [(51, 0)]  # 3 units sold per round, none oversold
