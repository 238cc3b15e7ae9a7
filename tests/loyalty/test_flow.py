"""A member's year through the HTTP API: joining in one channel, the same account in every channel,
points from orders (pending until the return window closes), check-ins, spending and the points mall."""

from __future__ import annotations

from datetime import timedelta

from siyu.kit.clock import utcnow
from siyu.loyalty.tasks import LoyaltySweeper
from tests.orders.shop import Member, Shop


def join(member: Member, channel: str) -> dict[str, object]:
    r = member.call("POST", "/api/v1/loyalty/members", {"channel": channel, "consents": {"marketing": True}})
    assert r.status_code in (200, 201), r.text
    return r.json()  # type: ignore[no-any-return]


def login(shop: Shop, **ids: str) -> Member:
    """A brand server's trusted login with exactly these identifiers (no phone unless given)."""
    r = shop.api.client.post("/api/v1/identity/login", json=ids, headers=shop.api.admin_headers())
    assert r.status_code == 200, r.text
    return Member(shop, r.json()["person_id"], r.json()["member_token"])


def test_one_account_in_every_channel(shop: Shop) -> None:
    # The mini-program knows her by a WeChat OpenID and UnionID, the APP by the brand's account and her phone:
    # two persons, until the website's login shows all of them belong together.
    mini = login(shop, app_id="wx-mini", openid="o-lin", unionid="u-lin", channel="miniprogram")
    first = mini.call("POST", "/api/v1/loyalty/members", {"channel": "miniprogram"})
    assert first.status_code == 201, first.text
    assert first.json()["tier"]["code"] == "regular" and first.json()["points"] == 100  # welcome points
    app = login(shop, user_id="lin", phone="13800137000", channel="app")
    assert app.person_id != mini.person_id
    unknown = app.call("GET", "/api/v1/loyalty/me")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_a_member"
    web = login(shop, user_id="lin", phone="+86 138-0013-7000", unionid="u-lin", channel="web")
    again = app.call("POST", "/api/v1/loyalty/members", {"channel": "app"})  # the APP's token, issued before
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"], again.text
    assert web.call("POST", "/api/v1/loyalty/checkin", {"channel": "web"}).status_code == 200
    views = [m.call("GET", "/api/v1/loyalty/me").json() for m in (mini, app, web)]
    assert views[0] == views[1] == views[2]
    assert views[0]["id"] == first.json()["id"] and views[0]["points"] == 105 and views[0]["checked_in_today"]


def test_order_points_are_pending_until_the_return_window_closes(shop: Shop) -> None:
    lin = shop.member("13800137001")
    join(lin, "app")
    order = lin.order("app", ("SCARF-RED", 2))  # 398 yuan
    lin.pay_online(order)
    shop.api.drain()
    me = lin.call("GET", "/api/v1/loyalty/me").json()
    assert me["pending_points"] == 398 and me["points"] == 100
    assert me["period_growth"] == 398
    shipped = shop.admin("POST", f"/api/v1/orders/{order['id']}/shipments", {"carrier": "SF", "tracking_number": "1"},
                         status=201)
    shop.admin("POST", f"/api/v1/orders/{order['id']}/shipments/{shipped['shipments'][0]['id']}/events",
               {"status": "delivered"})
    shop.api.drain()
    runtime = shop.api.runtime
    LoyaltySweeper(runtime.db, 1, clock=lambda: utcnow() + timedelta(days=6)).sweep()
    assert lin.call("GET", "/api/v1/loyalty/me").json()["pending_points"] == 398  # window still open
    LoyaltySweeper(runtime.db, 1, clock=lambda: utcnow() + timedelta(days=7, minutes=1)).sweep()
    me = lin.call("GET", "/api/v1/loyalty/me").json()
    assert me["pending_points"] == 0 and me["points"] == 498


def test_checkin_spend_and_mall(shop: Shop) -> None:
    lin = shop.member("13800137002")
    join(lin, "web")
    r = lin.call("POST", "/api/v1/loyalty/checkin", {"channel": "app"})
    assert r.status_code == 200 and r.json()["streak"] == 1 and r.json()["points"] == 5, r.text
    again = lin.call("POST", "/api/v1/loyalty/checkin", {"channel": "miniprogram"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_checked_in"
    item = shop.admin("POST", "/api/v1/loyalty/mall/items",
                      {"title": "咖啡券", "kind": "virtual", "points": 50, "stock": 1, "per_member_limit": 1},
                      status=201)
    got = lin.call("POST", f"/api/v1/loyalty/mall/items/{item['id']}/redeem", {"channel": "app"})
    assert got.status_code == 201, got.text
    second = lin.call("POST", f"/api/v1/loyalty/mall/items/{item['id']}/redeem", {"channel": "app"})
    # Both hold (stock 1, limit 1); the member's own limit answers, as it is checked first and will not change
    # when the item is restocked.
    assert second.status_code == 409 and second.json()["error"]["code"] == "mall_limit_reached", second.text
    me = lin.call("GET", "/api/v1/loyalty/me").json()
    assert me["points"] == 100 + 5 - 50
    too_much = lin.call("POST", f"/api/v1/loyalty/members/{lin.person_id}/points/spend", {"points": 56})
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "insufficient_points"
    ok = lin.call("POST", f"/api/v1/loyalty/members/{lin.person_id}/points/spend", {"points": 55})
    assert ok.status_code == 200 and ok.json()["balance"] == 0
    ledger = lin.call("GET", f"/api/v1/loyalty/members/{lin.person_id}/ledger").json()["items"]
    assert sum(e["delta"] for e in ledger) == 0
    assert [e["kind"] for e in ledger][::-1][:3] == ["earn", "earn", "redeem"]


def test_points_pay_part_of_an_order_and_come_back_on_cancel(shop: Shop) -> None:
    lin = shop.member("13800137003")
    join(lin, "miniprogram")
    order = lin.order("miniprogram", ("SCARF-RED", 1))
    r = lin.call("POST", f"/api/v1/loyalty/orders/{order['id']}/points", {"points": 100})
    assert r.status_code == 200, r.text
    assert r.json()["discount_fen"] == 100 and r.json()["total_fen"] == 19800 and r.json()["balance"] == 0
    lin.call("POST", f"/api/v1/orders/{order['id']}/cancel")
    shop.api.drain()
    assert lin.call("GET", "/api/v1/loyalty/me").json()["points"] == 100
