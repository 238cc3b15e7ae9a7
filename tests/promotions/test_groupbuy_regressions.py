"""Regression tests named after the rows of "where real malls break" (growth-mechanics.md) for group-buys,
on both operational databases."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from siyu.outbox.service import first_delivery
from siyu.promotions.groupbuy import seats
from siyu.promotions.groupbuy.models import GroupBuyGroup
from siyu.promotions.groupbuy.tasks import GroupBuySweeper
from tests.orders.shop import Shop
from tests.promotions.test_groupbuy import group, members, open_group, order, refunds, rule, status


def _paid_at(shop: Shop, order_id: str) -> datetime:
    return datetime.fromisoformat(shop.admin("GET", f"/api/v1/orders/{order_id}")["paid_at"])


def test_group_seats_counted_then_inserted_without_a_lock_overfill(shop: Shop,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """litemall's order submit counted a group's members, then inserted one more without a lock: two
    concurrent joins of the last seat both got in. Here the second payment's seat-taking is started at
    the exact point where the first has read the group and not yet taken the seat (Saleor's race helper):
    it waits for the group's lock, then finds the group full and is refunded."""
    r = rule(shop, size=2)
    leader, ann, bo = (shop.member(f"1380017000{i}") for i in range(3))
    _, gid = open_group(shop, leader, r["id"])
    oa, ob = order(ann, gid), order(bo, gid)
    ann.pay_online(oa)
    bo.pay_online(ob)  # both paid for the one seat left; their events are not handled yet
    db = shop.api.runtime.db
    outcomes: dict[str, Any] = {}

    def handle(order_id: str) -> None:
        with db.session() as s:  # as the bus consumer does: the inbox write opens the transaction
            first_delivery(s, "race-test", order_id)
            outcomes[order_id] = seats.take_seat(s, order_id, _paid_at(shop, order_id), datetime.now(UTC))

    second = threading.Thread(target=handle, args=(ob["id"],))
    real = seats.seated_in_group  # read under the group's lock, before the seat is taken

    def interleaved(*args: Any) -> bool:
        if not second.is_alive() and ob["id"] not in outcomes and threading.current_thread() is not second:
            second.start()
            time.sleep(0.5)  # the second payment runs into the group's lock meanwhile
        return real(*args)

    monkeypatch.setattr(seats, "seated_in_group", interleaved)
    handle(oa["id"])
    second.join(60)
    assert outcomes == {oa["id"]: "seated", ob["id"]: "group_full"}
    g = group(shop, gid)
    assert (g["status"], g["seats_paid"], [s["seat"] for s in g["seats"]]) == ("succeeded", 2, [1, 2])
    assert status(shop, ob["id"]) == ("cancelled", "group_full") and refunds(shop, ob["id"]) == [(9900, "pending")]
    shop.api.drain()  # the real payment events arrive afterwards: handled already, nothing changes
    assert group(shop, gid) == g and refunds(shop, ob["id"]) == [(9900, "pending")]
    assert status(shop, oa["id"]) == ("paid", None) and refunds(shop, oa["id"]) == []


def test_expired_under_filled_group_treated_as_successful(shop: Shop) -> None:
    """litemall #159: a group that expired under-filled was treated as successful. Here a group of three
    has two paid seats when its time runs out; a third payment that arrives after the expiry never makes
    it a success (it is refunded, whether its event is handled before or after the sweep), and the
    sweep fails the group and refunds each paid member exactly once."""
    r = rule(shop, size=3)
    leader, ann, bo = (shop.member(f"1380017100{i}") for i in range(3))
    lo, gid = open_group(shop, leader, r["id"])
    oa, ob = order(ann, gid), order(bo, gid)
    ann.pay_online(oa)
    shop.api.drain()
    assert group(shop, gid)["seats_paid"] == 2
    db = shop.api.runtime.db
    with db.session() as s:  # the group's time runs out
        s.execute(update(GroupBuyGroup).where(GroupBuyGroup.id == gid)
                  .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    bo.pay_online(ob)  # the third payment, after the expiry (the order itself was still open for payment)
    shop.api.runtime.domain.group_buys.clock = lambda: datetime.now(UTC) - timedelta(hours=1)  # no sweep yet
    shop.api.drain()
    g = group(shop, gid)
    assert (g["status"], g["seats_paid"]) == ("forming", 2)  # not a success: the payment came too late
    assert members(shop, gid)[ob["id"]]["reason"] == "group_expired"
    assert status(shop, ob["id"]) == ("cancelled", "group_expired") and refunds(shop, ob["id"]) == [(9900, "pending")]
    assert GroupBuySweeper(db, 1.0).sweep() == 1
    assert GroupBuySweeper(db, 1.0).sweep() == 0
    shop.api.runtime.domain.group_buys.clock = lambda: datetime.now(UTC)
    shop.api.drain()
    g = group(shop, gid)
    assert (g["status"], g["seats_paid"]) == ("failed", 2)
    assert refunds(shop, lo["id"]) == [(8900, "pending")] and refunds(shop, oa["id"]) == [(9900, "pending")]
    assert refunds(shop, ob["id"]) == [(9900, "pending")]
    assert {m["status"] for m in members(shop, gid).values()} == {"refunded", "refused"}
    late = order(shop.member("13800171009"), gid, status=409)
    assert late["error"]["code"] == "group_failed"
