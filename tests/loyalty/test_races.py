"""Races against a live ``siyu serve``: concurrent spends never overdraw, concurrent check-ins reward once."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.orders.live import Live, gather, live, members

__all__ = ["live"]


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
