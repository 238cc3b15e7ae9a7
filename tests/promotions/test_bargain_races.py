"""Bargain races against a live ``siyu serve`` on both runtimes, repeated ``SIYU_TEST_RACE_REPEAT`` times:
30 helpers cutting a bargain that needs 5 at the same instant make exactly 5 cuts that land exactly on
the floor; one helper cutting 20 times at once cuts once; one helper cutting 10 bargains at once stays
within the daily limit."""

from __future__ import annotations

import asyncio
import os
from collections import Counter

import pytest

from tests.orders.live import Live, gather, live, members

__all__ = ["live"]

REPEAT = int(os.environ.get("SIYU_TEST_RACE_REPEAT", "3"))
BG = "/api/v1/promotions/bargains"


def _campaign(live: Live, sku: str, **kw: object) -> str:
    body = {"name": "砍一刀", "sku_id": sku, "start_price_fen": 19900, "floor_price_fen": 990, "helpers_needed": 5,
            "min_cut_fen": 100, "max_cut_fen": 10000, "duration_minutes": 60, "helper_daily_limit": 100, **kw}
    return str(live.ok("POST", f"{BG}/campaigns", body)["id"])


def _cuts(live: Live, bargain: str, tokens: list[str]) -> Counter[tuple[int, str | None]]:
    answers = asyncio.run(gather([("POST", f"{BG}/{bargain}/cuts", {"channel": ("app", "web", "miniprogram")[i % 3]},
                                   {"Authorization": f"Bearer {t}"}) for i, t in enumerate(tokens)], live.url))
    return Counter((r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else None) for r in answers)


@pytest.mark.timeout(180 + 60 * REPEAT)
def test_concurrent_helpers_make_exactly_the_planned_cuts(live: Live) -> None:
    product = live.ok("POST", "/api/v1/catalog/products", {"title": "砍价款", "skus": [
        {"code": "BARGAIN", "listings": {ch: {"price_fen": 19900} for ch in ("miniprogram", "web", "app")}}]})
    sku = product["skus"][0]["id"]
    tokens = members(live, 41)
    initiator, helpers, lone = tokens[0], tokens[1:31], tokens[31]
    for _ in range(REPEAT):
        b = live.call("POST", f"{BG}/campaigns/{_campaign(live, sku)}/start", {"channel": "app"}, token=initiator)
        assert b.status_code == 201, b.text
        bid = b.json()["id"]
        assert _cuts(live, bid, helpers) == {(201, None): 5, (409, "bargain_complete"): 25}
        after = live.ok("GET", f"{BG}/{bid}")
        assert (after["status"], after["current_price_fen"], after["helpers"]) == ("reached", 990, 5)
        assert [c["seq"] for c in after["cuts"]] == [1, 2, 3, 4, 5]
        assert sum(c["amount_fen"] for c in after["cuts"]) == 19900 - 990
        assert all(100 <= c["amount_fen"] <= 10000 for c in after["cuts"])
        # one helper, twenty taps at once
        other = live.call("POST", f"{BG}/campaigns/{_campaign(live, sku)}/start", {"channel": "web"},
                          token=initiator).json()["id"]
        assert _cuts(live, other, [lone] * 20) == {(201, None): 1, (409, "already_helped"): 19}
        assert live.ok("GET", f"{BG}/{other}")["helpers"] == 1
        # one helper, ten bargains at once, three cuts a day
        capped = _campaign(live, sku, helper_daily_limit=3)
        starters = tokens[31:41]
        bargains = [live.call("POST", f"{BG}/campaigns/{capped}/start", {"channel": "app"}, token=t).json()["id"]
                    for t in starters[1:]] + [
            live.call("POST", f"{BG}/campaigns/{capped}/start", {"channel": "app"}, token=initiator).json()["id"]]
        answers = asyncio.run(gather([("POST", f"{BG}/{x}/cuts", {"channel": "app"},
                                       {"Authorization": f"Bearer {lone}"}) for x in bargains], live.url))
        codes = Counter((r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else None)
                        for r in answers)
        assert codes == {(201, None): 3, (409, "help_limit_reached"): 7}, codes
