"""Replay: delivering every bus event a second time (the same messages, and copies under new bus message
ids, as a client's retry of a tracked event would make) changes no member, ledger, quest or counter."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from siyu.bus.base import Message
from siyu.kit.ids import new_id
from tests.orders.shop import Shop


def state(shop: Shop, people: Sequence[str]) -> list[Any]:
    out: list[Any] = []
    for person in people:
        me = shop.admin("GET", f"/api/v1/loyalty/members/{person}")
        ledger = shop.admin("GET", f"/api/v1/loyalty/members/{person}/ledger?limit=500")["items"]
        quests = shop.admin("GET", f"/api/v1/loyalty/quests?person_id={person}")
        profile = shop.admin("GET", f"/api/v1/persons/{person}")
        out.append((me, [(e["kind"], e["delta"], e["pending_delta"], e["balance"]) for e in ledger], quests,
                    profile["counters"]))
    return out


def test_every_bus_event_twice_changes_nothing(shop: Shop) -> None:
    api = shop.api
    bus = api.runtime.bus
    sent: list[Message] = []
    original = bus.publish

    async def recording(messages: Sequence[Message]) -> None:
        sent.extend(messages)
        await original(messages)

    bus.publish = recording  # type: ignore[method-assign]
    shop.admin("POST", "/api/v1/loyalty/quests", {"name": "分享达人", "window_days": 30, "reward_points": 500,
                                                  "goals": [{"action": "share", "channel": "miniprogram", "count": 2},
                                                            {"action": "order", "count": 1}]}, status=201)
    people = []
    for i, channel in enumerate(["miniprogram", "web", "app"]):
        m = shop.member(f"1380013600{i}", user_id=f"replay-{i}")
        people.append(m.person_id)
        m.call("POST", "/api/v1/loyalty/members", {"channel": channel})
        order = m.order(channel, ("SCARF-RED", i + 1))
        m.pay_online(order)
        if i:
            shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds", {"amount_fen": 5000}, status=201)
        key = base64.b64encode(f"{api.keys['miniprogram']}:".encode()).decode()
        batch = [{"type": "track", "event": "Product Shared", "userId": f"replay-{i}", "messageId": f"share-{i}-{n}"}
                 for n in range(3)]
        assert api.client.post("/v1/batch", json={"batch": batch},
                               headers={"Authorization": f"Basic {key}"}).status_code == 200
    api.drain()
    before = state(shop, people)
    assert any(e[0] == "earn" for e in before[0][1]) and before[0][2][0]["completed"]

    async def again() -> None:
        await original(sent)  # the very same messages
        await original([Message(id=new_id(), topic=m.topic, body=m.body, headers=m.headers) for m in sent])

    api.client.portal.call(again)
    api.drain()
    after = state(shop, people)
    for b, a in zip(before, after, strict=True):
        for part_b, part_a in zip(b, a, strict=True):
            assert part_a == part_b
