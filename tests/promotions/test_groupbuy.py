"""Group-buy (拼团) through the API, on both operational databases: a leader opens a group by paying, members
join by paying, the group succeeds when full; a payment that finds no seat is refunded; at expiry an
unfilled group fails and every paid member is refunded exactly once; replaying the bus changes nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from siyu.bus.base import Message
from siyu.kit.ids import new_id
from siyu.promotions.groupbuy.tasks import GroupBuySweeper
from tests.orders.shop import ADDRESS, Member, Shop

GB = "/api/v1/promotions/group-buys"


def rule(shop: Shop, **kw: Any) -> dict[str, Any]:
    body = {"name": "三人团", "sku_id": shop.skus["SCARF-RED"], "group_price_fen": 9900, "leader_price_fen": 8900,
            "size": 3, "duration_minutes": 60, **kw}
    return shop.admin("POST", f"{GB}/rules", body, status=201)  # type: ignore[no-any-return]


def order(m: Member, promotion_id: str, channel: str = "app", qty: int = 1, status: int = 201) -> Any:
    r = m.call("POST", "/api/v1/orders", {"channel": channel, "lines": [{"sku_code": "SCARF-RED", "quantity": qty}],
                                          "address": ADDRESS, "promotion": {"kind": "group_buy", "id": promotion_id}})
    assert r.status_code == status, r.text
    return r.json()


def open_group(shop: Shop, leader: Member, rule_id: str, pay: bool = True) -> tuple[dict[str, Any], str]:
    """The leader's order and the group it opened (paid and handled, unless ``pay`` is False)."""
    o = order(leader, f"rule:{rule_id}")
    if pay:
        leader.pay_online(o)
        shop.api.drain()
    return o, leader.call("GET", f"{GB}/orders/{o['id']}").json()["id"]


def group(shop: Shop, group_id: str) -> Any:
    return shop.admin("GET", f"{GB}/groups/{group_id}")


def members(shop: Shop, group_id: str) -> dict[str, dict[str, Any]]:
    return {m["order_id"]: m for m in shop.admin("GET", f"{GB}/groups/{group_id}/members")}


def refunds(shop: Shop, order_id: str) -> list[tuple[int, str]]:
    return [(r["amount_fen"], r["status"]) for r in shop.admin("GET", f"/api/v1/orders/{order_id}")["refunds"]]


def status(shop: Shop, order_id: str) -> tuple[str, str | None]:
    o = shop.admin("GET", f"/api/v1/orders/{order_id}")
    return o["status"], o["cancel_reason"]


def settle_refunds(shop: Shop, order_ids: Sequence[str]) -> None:
    """The webhook provider confirms the refunds it was asked for."""
    for oid in order_ids:
        for r in shop.admin("GET", f"/api/v1/orders/{oid}")["refunds"]:
            if r["status"] == "pending":
                answer = shop.callback("refund.succeeded", payment_ref=f"for-{r['id']}", refund_id=r["id"])
                assert answer.status_code == 200, answer.text


def test_a_group_opens_when_its_leader_pays_and_succeeds_when_full(shop: Shop) -> None:
    r = rule(shop)
    leader, ann, bo = (shop.member(f"1380015000{i}") for i in range(3))
    lo, gid = open_group(shop, leader, r["id"], pay=False)
    assert lo["total_fen"] == 8900 and lo["promotion_kind"] == "group_buy" and lo["promotion_id"] == f"rule:{r['id']}"
    assert lo["lines"][0]["unit_price_fen"] == 8900
    g = group(shop, gid)
    assert (g["status"], g["seats_paid"], g["leader_person_id"]) == ("opening", 0, leader.person_id)
    early = order(ann, gid, status=409)
    assert early["error"]["code"] == "group_not_open"
    leader.pay_online(lo)
    shop.api.drain()
    g = group(shop, gid)
    assert (g["status"], g["seats_paid"], g["seats_left"]) == ("forming", 1, 2) and g["seats"][0]["role"] == "leader"
    assert [x["id"] for x in shop.admin("GET", f"{GB}/rules/{r['id']}/groups")] == [gid]
    oa = order(ann, gid, channel="miniprogram")
    assert oa["total_fen"] == 9900
    ann.pay_online(oa)
    shop.api.drain()
    assert group(shop, gid)["seats_paid"] == 2
    ob = order(bo, gid, channel="web")
    bo.pay_online(ob)
    shop.api.drain()
    g = group(shop, gid)
    assert (g["status"], g["seats_paid"], g["seats_left"]) == ("succeeded", 3, 0)
    assert [(s["seat"], s["role"]) for s in g["seats"]] == [(1, "leader"), (2, "member"), (3, "member")]
    assert {m["status"] for m in members(shop, gid).values()} == {"seated"}
    for o in (lo, oa, ob):
        assert status(shop, o["id"]) == ("paid", None) and refunds(shop, o["id"]) == []
    assert [x["id"] for x in ann.call("GET", f"{GB}/mine").json()] == [gid]
    # a full group takes nobody more
    late = order(shop.member("13800150009"), gid, status=409)
    assert late["error"]["code"] == "group_full"
    events = shop.api.sql("SELECT event, count(*) FROM events WHERE event LIKE 'Group Buy%' GROUP BY 1 ORDER BY 1")
    assert events == [["Group Buy Joined", 2], ["Group Buy Opened", 1], ["Group Buy Succeeded", 1]]


def test_payments_that_find_the_group_full_are_refunded_once(shop: Shop) -> None:
    r = rule(shop)
    leader, *others = (shop.member(f"1380015100{i}") for i in range(5))
    _, gid = open_group(shop, leader, r["id"])
    joins = [order(m, gid) for m in others]
    for m, o in zip(others[:3], joins[:3], strict=True):
        m.pay_online(o)  # three pay for the two seats left; the fourth never pays
    shop.api.drain()
    g = group(shop, gid)
    assert (g["status"], g["seats_paid"]) == ("succeeded", 3)
    rows = members(shop, gid)
    seated = [o["id"] for o in joins[:3] if rows[o["id"]]["status"] == "seated"]
    refused = [o["id"] for o in joins[:3] if rows[o["id"]]["status"] == "refused"]
    assert len(seated) == 2 and len(refused) == 1 and rows[refused[0]]["reason"] == "group_full"
    assert status(shop, refused[0]) == ("cancelled", "group_full")
    assert refunds(shop, refused[0]) == [(9900, "pending")]
    settle_refunds(shop, refused)
    assert refunds(shop, refused[0]) == [(9900, "succeeded")]
    # the unpaid order would never get a seat: the sweeper (run by drain) cancelled it, in its own transaction
    assert rows[joins[3]["id"]]["status"] == "cancelled"
    assert status(shop, joins[3]["id"]) == ("cancelled", "group_full")
    shop.api.drain()
    assert refunds(shop, refused[0]) == [(9900, "succeeded")] and all(refunds(shop, o) == [] for o in seated)


def test_an_unfilled_group_fails_at_expiry_and_every_paid_member_is_refunded_once(shop: Shop) -> None:
    r = rule(shop, size=4, duration_minutes=30)
    leader, ann, bo = (shop.member(f"1380015200{i}") for i in range(3))
    lo, gid = open_group(shop, leader, r["id"])
    oa, ob = order(ann, gid), order(bo, gid)
    ann.pay_online(oa)
    shop.api.drain()
    assert group(shop, gid)["seats_paid"] == 2
    sweeper = GroupBuySweeper(shop.api.runtime.db, 1.0, clock=lambda: datetime.now(UTC) + timedelta(minutes=29))
    assert sweeper.sweep() == 0  # not yet
    sweeper.clock = lambda: datetime.now(UTC) + timedelta(minutes=31)
    assert sweeper.sweep() == 1
    assert sweeper.sweep() == 0  # a second sweep finds nothing to do
    g = group(shop, gid)
    assert (g["status"], g["seats_paid"]) == ("failed", 2)
    rows = members(shop, gid)
    assert (rows[lo["id"]]["status"], rows[oa["id"]]["status"], rows[ob["id"]]["status"]) == (
        "refunded", "refunded", "cancelled")
    assert status(shop, lo["id"]) == ("cancelled", "group_failed") and refunds(shop, lo["id"]) == [(8900, "pending")]
    assert status(shop, oa["id"]) == ("cancelled", "group_failed") and refunds(shop, oa["id"]) == [(9900, "pending")]
    assert status(shop, ob["id"]) == ("cancelled", "group_failed") and refunds(shop, ob["id"]) == []
    shop.api.drain()  # the cancellations' events reach the group-buy consumer: nothing more happens
    settle_refunds(shop, [lo["id"], oa["id"]])
    assert refunds(shop, lo["id"]) == [(8900, "succeeded")] and refunds(shop, oa["id"]) == [(9900, "succeeded")]
    assert shop.levels("SCARF-RED")[shop.warehouse] == (50, 0)  # every unit back on the shelf
    failed = shop.api.sql("SELECT properties FROM events WHERE event = 'Group Buy Failed'")
    assert [json.loads(str(p[0]))["refunded_orders"] for p in failed] == [2]
    # the customers can try again in another group of the rule
    _, again = open_group(shop, ann, r["id"])
    assert group(shop, again)["status"] == "forming"


def test_a_paid_member_who_cancels_a_forming_group_gives_the_seat_back(shop: Shop) -> None:
    r = rule(shop)
    leader, ann, bo, cy = (shop.member(f"1380015300{i}") for i in range(4))
    _, gid = open_group(shop, leader, r["id"])
    oa = order(ann, gid)
    ann.pay_online(oa)
    shop.api.drain()
    assert ann.call("POST", f"/api/v1/orders/{oa['id']}/cancel").status_code == 200
    shop.api.drain()
    assert group(shop, gid)["seats_paid"] == 1 and members(shop, gid)[oa["id"]]["status"] == "left"
    for m in (bo, cy):
        m.pay_online(order(m, gid))
    shop.api.drain()
    g = group(shop, gid)
    assert (g["status"], [s["seat"] for s in g["seats"]]) == ("succeeded", [1, 2, 3])


def test_rules_limits_and_channels(shop: Shop) -> None:
    bad = shop.api.client.post(f"{GB}/rules", headers=shop.api.admin_headers(), json={
        "name": "x", "sku_id": shop.skus["SCARF-RED"], "group_price_fen": 9900, "leader_price_fen": 9901, "size": 3,
        "duration_minutes": 60})
    assert bad.status_code == 422
    one = shop.api.client.post(f"{GB}/rules", headers=shop.api.admin_headers(), json={
        "name": "x", "sku_id": shop.skus["SCARF-RED"], "group_price_fen": 9900, "size": 1, "duration_minutes": 60})
    assert one.status_code == 422
    r = rule(shop, channels=["miniprogram", "app"], max_quantity=2, leader_price_fen=None)
    leader, ann = shop.member("13800154000"), shop.member("13800154001")
    member_rule = leader.call("POST", f"{GB}/rules", {"name": "x", "sku_id": shop.skus["SCARF-RED"],
                                                      "group_price_fen": 1, "size": 2, "duration_minutes": 1})
    assert member_rule.status_code == 403
    wrong = order(leader, f"rule:{r['id']}", channel="web", status=422)
    assert wrong["error"]["code"] == "group_buy_wrong_channel"
    too_many = order(leader, f"rule:{r['id']}", qty=3, status=422)
    assert too_many["error"]["code"] == "promotion_quantity"
    lo, gid = open_group(shop, leader, r["id"])
    assert lo["total_fen"] == 9900  # no leader price: the group price
    own = order(leader, gid, status=409)
    assert own["error"]["code"] == "already_in_group"
    oa = order(ann, gid, qty=2)
    assert oa["total_fen"] == 19800
    ann.pay_online(oa)
    shop.api.drain()
    limit = order(ann, f"rule:{r['id']}", status=409)  # one seat per customer in this rule
    assert limit["error"]["code"] == "group_member_limit"
    assert order(ann, "no-such-group", status=404)["error"]["code"] == "group_not_found"
    assert order(ann, "rule:nope", status=404)["error"]["code"] == "group_buy_rule_not_found"
    assert [x["id"] for x in ann.call("GET", f"{GB}/rules").json()] == [r["id"]]
    assert ann.call("GET", f"{GB}/groups/{gid}/members").status_code == 403
    assert ann.call("GET", f"{GB}/orders/{lo['id']}").status_code == 403


def test_a_share_link_carries_the_group_and_the_sharer_and_opens_are_tracked(shop: Shop) -> None:
    r = rule(shop)
    leader, ann = shop.member("13800155000"), shop.member("13800155001")
    _, gid = open_group(shop, leader, r["id"])
    link = leader.call("POST", f"{GB}/groups/{gid}/share", {"channel": "miniprogram", "utm_campaign": "双11"})
    assert link.status_code == 200, link.text
    s = link.json()
    assert s["target_id"] == gid and s["sharer_person_id"] == leader.person_id and s["channel"] == "miniprogram"
    assert s["path"].startswith(f"/group-buy/{gid}?share={s['id']}&utm_source=miniprogram&utm_medium=share")
    assert leader.call("POST", f"{GB}/groups/{gid}/share", {"channel": "miniprogram", "utm_campaign": "双11"}
                       ).json()["id"] == s["id"]  # the same link each time
    opened = ann.call("POST", f"{GB}/shares/{s['id']}/open", {"channel": "app"})
    assert opened.status_code == 200, opened.text
    assert opened.json()["share"]["opens"] == 1 and opened.json()["group"]["id"] == gid
    anon = shop.api.client.post(f"{GB}/shares/{s['id']}/open", headers=shop.api.admin_headers(),
                                json={"channel": "web", "anonymous_id": "visitor-1"})
    assert anon.status_code == 200 and anon.json()["share"]["opens"] == 2
    nobody = shop.api.client.post(f"{GB}/shares/{s['id']}/open", headers=shop.api.admin_headers(),
                                  json={"channel": "web"})
    assert nobody.status_code == 422
    assert ann.call("POST", f"{GB}/shares/nope/open", {"channel": "app"}).status_code == 404
    shop.api.drain()
    rows = shop.api.sql("SELECT channel, person_id, properties FROM events WHERE event = 'Group Buy Link Opened' "
                        "ORDER BY channel")
    assert [c for c, _, _ in rows] == ["app", "web"] and rows[0][1] == ann.person_id
    assert rows[1][1] not in (ann.person_id, leader.person_id)  # the anonymous visitor, a person of their own
    props = json.loads(str(rows[0][2]))
    assert props["group_id"] == gid and props["sharer_person_id"] == leader.person_id
    assert (props["shared_from"], props["utm_campaign"], props["share_id"]) == ("miniprogram", "双11", s["id"])


def test_every_bus_event_twice_changes_no_group(shop: Shop) -> None:
    api = shop.api
    bus = api.runtime.bus
    sent: list[Message] = []
    original = bus.publish

    async def recording(messages: Sequence[Message]) -> None:
        sent.extend(messages)
        await original(messages)

    bus.publish = recording  # type: ignore[method-assign]
    r = rule(shop)
    leader, *others = (shop.member(f"1380015600{i}") for i in range(4))
    lo, gid = open_group(shop, leader, r["id"])
    joins = [order(m, gid) for m in others]
    for m, o in zip(others, joins, strict=True):
        m.pay_online(o)
    api.drain()
    orders = [lo["id"], *(o["id"] for o in joins)]

    def state() -> Any:
        return (group(shop, gid), members(shop, gid), [(status(shop, o), refunds(shop, o)) for o in orders],
                shop.levels("SCARF-RED"))

    before = state()
    assert before[0]["status"] == "succeeded" and sum(len(x[1]) for x in before[2]) == 1

    async def again() -> None:
        await original(sent)  # the very same messages
        await original([Message(id=new_id(), topic=m.topic, body=m.body, headers=m.headers) for m in sent])

    api.client.portal.call(again)
    api.drain()
    assert state() == before
