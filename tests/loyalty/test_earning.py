"""Points on orders through the HTTP API and the bus: the tier's multiplier, a refund taking back the points
its money earned (pending, and available once released) in proportion, and points paying part of an order
within the programme's minimum and maximum share."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from siyu.kit.clock import utcnow
from siyu.loyalty.tasks import LoyaltySweeper
from tests.loyalty.test_flow import join
from tests.loyalty.test_mall import make_gold, me
from tests.orders.shop import Member, Shop


def pay_manually(shop: Shop, order: dict[str, Any]) -> None:
    shop.admin("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "manual"}, status=201)


def ledger(m: Member) -> list[dict[str, Any]]:
    return m.call("GET", f"/api/v1/loyalty/members/{m.person_id}/ledger").json()["items"]  # type: ignore[no-any-return]


def test_order_points_use_the_tiers_multiplier(shop: Shop) -> None:
    regular, gold = shop.member("13800132000"), shop.member("13800132001")
    for m in (regular, gold):
        join(m, "app")
    make_gold(shop, gold)  # 黄金会员: 2% off, 1.2x points
    for m in (regular, gold):
        order = m.order("app", ("SCARF-RED", 1))
        m.pay_online(order)
    shop.api.drain()
    assert me(regular)["pending_points"] == 199  # 199 yuan, 1 point a yuan
    assert me(gold)["pending_points"] == 19502 * 12000 // 10000 // 100 == 234  # 195.02 yuan, times 1.2


def test_a_refund_takes_back_pending_then_available_points_in_proportion(shop: Shop) -> None:
    lin = shop.member("13800132002")
    join(lin, "web")
    order = lin.order("web", ("SCARF-RED", 2))  # 398 yuan: 398 points pending, 398 growth
    pay_manually(shop, order)
    shop.api.drain()
    assert (me(lin)["points"], me(lin)["pending_points"], me(lin)["period_growth"]) == (100, 398, 398)
    shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds", {"amount_fen": 9950}, status=201)  # a quarter
    shop.api.drain()
    assert (me(lin)["points"], me(lin)["pending_points"], me(lin)["period_growth"]) == (100, 298, 398 - 99)
    cancel = [e for e in ledger(lin) if e["kind"] == "cancel"]
    assert [(e["delta"], e["pending_delta"], e["ref"]) for e in cancel] == [(0, -100, order["id"])]

    shipped = shop.admin("POST", f"/api/v1/orders/{order['id']}/shipments", {"carrier": "SF", "tracking_number": "2"},
                         status=201)
    shop.admin("POST", f"/api/v1/orders/{order['id']}/shipments/{shipped['shipments'][0]['id']}/events",
               {"status": "delivered"})
    shop.api.drain()
    LoyaltySweeper(shop.api.runtime.db, 1, clock=lambda: utcnow() + timedelta(days=7, minutes=1)).sweep()
    assert (me(lin)["points"], me(lin)["pending_points"]) == (100 + 298, 0)  # released
    shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds", {"amount_fen": 19900}, status=201)  # half more
    shop.api.drain()
    # 3/4 refunded in all: 398 * 1/4 = 99 points stay (rounded down); 100 were taken back already
    assert (me(lin)["points"], me(lin)["pending_points"], me(lin)["period_growth"]) == (100 + 99, 0, 398 - 99 - 199)
    cancel = [e for e in ledger(lin) if e["kind"] == "cancel"]
    assert [(e["delta"], e["pending_delta"]) for e in cancel] == [(-199, 0), (0, -100)]  # newest first
    assert sum(e["delta"] for e in ledger(lin)) == 199


def test_points_pay_within_the_minimum_and_the_maximum_share(shop: Shop) -> None:
    lin = shop.member("13800132003")
    join(lin, "miniprogram")
    shop.admin("POST", f"/api/v1/loyalty/members/{lin.person_id}/points/adjust", {"points": 19900, "reason": "test"})
    order = lin.order("miniprogram", ("SCARF-RED", 1))  # 199 yuan: points pay at most half, 99.50 yuan
    path = f"/api/v1/loyalty/orders/{order['id']}/points"
    below = lin.call("POST", path, {"points": 99})  # the minimum is 100 points
    assert below.status_code == 409 and below.json()["error"]["code"] == "points_redemption_refused", below.text
    over = lin.call("POST", path, {"points": 9951})  # 100 points a yuan: 99.51 yuan
    assert over.status_code == 409 and over.json()["error"]["code"] == "points_not_applicable", over.text
    assert over.json()["error"]["details"]["max_fen"] == 9950
    assert me(lin)["points"] == 20000  # nothing spent by a refusal
    ok = lin.call("POST", path, {"points": 9000})
    assert ok.status_code == 200 and ok.json()["total_fen"] == 19900 - 9000, ok.text
    more = lin.call("POST", path, {"points": 951})  # the cap counts what points paid already
    assert more.status_code == 409 and more.json()["error"]["code"] == "points_not_applicable", more.text
    last = lin.call("POST", path, {"points": 950})
    assert last.status_code == 200 and last.json()["total_fen"] == 9950 and last.json()["balance"] == 20000 - 9950
