"""Flash sales in process, on the database store (SQLite, PostgreSQL) and the Redis store (PostgreSQL +
Redis): the rules of an attempt, buying at the flash price with a reservation, and units coming back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from siyu.orders.models import Order
from siyu.orders.tasks import OrderSweeper
from siyu.promotions.flash import service as flash_service
from siyu.promotions.flash.models import FlashReservation
from siyu.promotions.flash.tasks import FlashSweeper
from tests.conftest import Api, make_settings, open_api
from tests.orders.shop import ADDRESS, WEBHOOK_SECRET, Member, Shop
from tests.support import postgres_database, service_url

F = "/api/v1/promotions/flash-sales"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.server),
                        pytest.param("redis", marks=pytest.mark.server)])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """The database store on SQLite and PostgreSQL; the Redis store (PostgreSQL is the record)."""
    extra: dict[str, Any] = {"payment_webhook_secret": WEBHOOK_SECRET}
    if request.param == "sqlite":
        with open_api(make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'ops.sqlite3'}", **extra)) as a:
            yield a
        return
    if request.param == "redis":
        extra["redis_url"] = service_url("REDIS")
    with postgres_database() as url, open_api(make_settings(tmp_path, database_url=url, **extra)) as a:
        yield a


def flash_sale(shop: Shop, **over: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body = {"name": "双11 秒杀", "sku_id": shop.skus["SCARF-RED"], "price_fen": 990, "quota": 3,
            "per_member_limit": 1, "reservation_ttl_s": 300, "starts_at": (now - timedelta(minutes=1)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(), **over}
    return shop.admin("POST", F, body, status=201)  # type: ignore[no-any-return]


def attempt(m: Member, session_id: str, channel: str = "app", quantity: int = 1, status: int = 201) -> Any:
    r = m.call("POST", f"{F}/{session_id}/attempts", {"channel": channel, "quantity": quantity})
    assert r.status_code == status, r.text
    return r.json()


def order_with(m: Member, reservation: dict[str, Any], quantity: int = 1, status: int = 201) -> Any:
    body = {"channel": "app", "lines": [{"sku_id": reservation["sku_id"], "quantity": quantity}],
            "address": ADDRESS, "promotion": reservation["promotion"]}
    r = m.call("POST", "/api/v1/orders", body)
    assert r.status_code == status, r.text
    return r.json()


def stats(shop: Shop, session_id: str) -> dict[str, Any]:
    return shop.admin("GET", f"{F}/{session_id}/stats")  # type: ignore[no-any-return]


def settle(api: Api) -> None:
    """Publish the outbox and run the flash-sale consumer until idle (faster than the whole worker)."""
    rt = api.runtime
    flash = next(c for c in rt.domain.consumers if c.handler.group == "promotions-flash")

    async def go() -> None:
        await rt.domain.relay.drain()
        await flash.drain(idle_s=0.05)

    assert api.client.portal is not None
    api.client.portal.call(go)


def sweep(api: Api, at: datetime) -> tuple[int, int]:
    rt = api.runtime
    return FlashSweeper(rt.db, rt.domain.flash_quotas, clock=lambda: at).sweep()


def test_an_attempt_reserves_and_the_order_pays_the_flash_price(api: Api, shop: Shop) -> None:
    fs = flash_sale(shop)
    assert fs["remaining"] == 3 and fs["counter"] == ("redis" if api.runtime.settings.redis_url else "db")
    ann = shop.member("13800000001")
    r = attempt(ann, fs["id"])
    assert r["status"] == "reserved" and r["price_fen"] == 990 and r["promotion"] == {"kind": "flash_sale",
                                                                                       "id": r["id"]}
    assert attempt(ann, fs["id"], status=409)["error"]["code"] == "flash_limit_reached"
    # a quote shows the flash price; nobody else can use the reservation
    quote = ann.call("POST", "/api/v1/promotions/pricing/quote", {
        "channel": "app", "lines": [{"sku_id": r["sku_id"], "quantity": 1}], "promotion": r["promotion"]}).json()
    assert quote["lines"][0]["unit_price_fen"] == 990 and quote["lines"][0]["price_source"].startswith("flash_sale")
    bob = shop.member("13800000002")
    assert order_with(bob, r, status=404)["error"]["code"] == "flash_reservation_not_found"
    assert order_with(ann, r, quantity=2, status=422)["error"]["code"] == "promotion_quantity"
    order = order_with(ann, r)
    assert order["total_fen"] == 990 and order["promotion_kind"] == "flash_sale"
    assert order_with(ann, r, status=409)["error"]["code"] == "reservation_used"  # one order per reservation
    assert ann.call("GET", f"/api/v1/promotions/flash-reservations/{r['id']}").json()["status"] == "ordered"
    ann.pay_online(order)
    settle(api)
    assert stats(shop, fs["id"]) == {"session_id": fs["id"], "quota": 3, "remaining": 2, "reserved": 0,
                                     "ordered": 0, "sold": 1, "returned": 0, "balanced": True}


def test_window_channel_limit_and_sold_out(api: Api, shop: Shop) -> None:
    now = datetime.now(UTC)
    later = flash_sale(shop, starts_at=(now + timedelta(hours=1)).isoformat(),
                       ends_at=(now + timedelta(hours=2)).isoformat())
    over = flash_sale(shop, starts_at=(now - timedelta(hours=2)).isoformat(),
                      ends_at=(now - timedelta(hours=1)).isoformat())
    fs = flash_sale(shop, quota=3, per_member_limit=2, channels=["miniprogram"])
    ann, bob, cat = (shop.member(f"1380000001{i}") for i in range(3))
    assert attempt(ann, later["id"], status=409)["error"]["code"] == "flash_not_started"
    assert attempt(ann, over["id"], status=409)["error"]["code"] == "flash_ended"
    assert attempt(ann, fs["id"], channel="app", status=403)["error"]["code"] == "flash_wrong_channel"
    assert attempt(ann, fs["id"], "miniprogram", quantity=3, status=409)["error"]["code"] == "flash_limit_reached"
    assert attempt(ann, fs["id"], "miniprogram", quantity=2)["quantity"] == 2
    assert attempt(ann, fs["id"], "miniprogram", status=409)["error"]["code"] == "flash_limit_reached"
    assert attempt(bob, fs["id"], "miniprogram", quantity=2, status=409)["error"]["code"] == "flash_sold_out"
    mine = attempt(bob, fs["id"], "miniprogram")
    assert attempt(cat, fs["id"], "miniprogram", status=409)["error"]["code"] == "flash_sold_out"
    # handing a reservation back returns its unit to the quota and to the member's limit
    assert bob.call("POST", f"/api/v1/promotions/flash-reservations/{mine['id']}/release").json()["status"] \
        == "released"
    assert attempt(cat, fs["id"], "miniprogram")["quantity"] == 1
    shop.admin("POST", f"{F}/{fs['id']}/end")
    assert attempt(bob, fs["id"], "miniprogram", status=409)["error"]["code"] == "flash_ended"
    assert stats(shop, fs["id"])["balanced"] is True
    # an operator token is not a customer
    r = shop.api.client.post(f"{F}/{fs['id']}/attempts", json={"channel": "app"}, headers=shop.api.admin_headers())
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_your_data"


def test_expired_reservations_go_back_and_cannot_buy(api: Api, shop: Shop) -> None:
    fs = flash_sale(shop, quota=1, reservation_ttl_s=60)
    ann, bob = shop.member("13800000021"), shop.member("13800000022")
    r = attempt(ann, fs["id"])
    assert attempt(bob, fs["id"], status=409)["error"]["code"] == "flash_sold_out"
    now = datetime.now(UTC)
    assert sweep(api, now) == (0, 0)  # not yet
    assert sweep(api, now + timedelta(seconds=61))[0] == 1
    assert sweep(api, now + timedelta(seconds=62))[0] == 0  # once
    assert order_with(ann, r, status=409)["error"]["code"] == "reservation_expired"
    assert stats(shop, fs["id"])["remaining"] == 1
    won = attempt(bob, fs["id"])
    assert order_with(bob, won)["total_fen"] == 990
    assert stats(shop, fs["id"]) | {"session_id": ""} == {"session_id": "", "quota": 1, "remaining": 0,
                                                          "reserved": 0, "ordered": 1, "sold": 0, "returned": 1,
                                                          "balanced": True}


def test_a_cancelled_or_timed_out_order_returns_its_units_once(api: Api, shop: Shop) -> None:
    fs = flash_sale(shop, quota=2)
    ann, bob = shop.member("13800000031"), shop.member("13800000032")
    cancelled = order_with(ann, attempt(ann, fs["id"]))
    timed_out = order_with(bob, attempt(bob, fs["id"]))
    assert ann.call("POST", f"/api/v1/orders/{cancelled['id']}/cancel", {"reason": "changed my mind"}).status_code \
        == 200
    now = datetime.now(UTC)
    with api.runtime.db.session() as s:
        s.execute(update(Order).where(Order.id == timed_out["id"])
                  .values(reserve_expires_at=now - timedelta(seconds=1)))
    assert OrderSweeper(api.runtime.db, 1).sweep()[0] == 1
    assert stats(shop, fs["id"])["ordered"] == 2  # held until the bus says so
    settle(api)
    with api.runtime.db.session() as s:  # a redelivered event (past the inbox) changes nothing
        assert not flash_service.order_cancelled(s, cancelled["id"], api.runtime.domain.flash_quotas, now)
    assert stats(shop, fs["id"]) | {"session_id": ""} == {"session_id": "", "quota": 2, "remaining": 2,
                                                          "reserved": 0, "ordered": 0, "sold": 0, "returned": 2,
                                                          "balanced": True}
    # the members may try again: their limit came back too
    assert attempt(ann, fs["id"])["status"] == "reserved"


def test_idempotency_key_replays_the_reservation(api: Api, shop: Shop) -> None:
    fs = flash_sale(shop, per_member_limit=2)
    ann = shop.member("13800000041")
    h = {"Authorization": f"Bearer {ann.token}", "Idempotency-Key": "k-1"}
    first = shop.api.client.post(f"{F}/{fs['id']}/attempts", json={"channel": "app"}, headers=h)
    again = shop.api.client.post(f"{F}/{fs['id']}/attempts", json={"channel": "app"}, headers=h)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert stats(shop, fs["id"])["reserved"] == 1


def test_reservation_rows_and_counters_agree(api: Api, shop: Shop) -> None:
    """Random attempts, orders, payments, cancellations and expiries: sold + held + remaining == quota."""
    import random

    rnd = random.Random(7)
    fs = flash_sale(shop, quota=5, per_member_limit=2, reservation_ttl_s=60)
    people = [shop.member(f"1380000005{i}") for i in range(6)]
    held: list[tuple[Member, dict[str, Any]]] = []
    orders: list[tuple[Member, dict[str, Any]]] = []
    clock = datetime.now(UTC)
    for _ in range(40):
        step = rnd.choice(["attempt", "attempt", "order", "pay", "cancel", "expire"])
        if step == "attempt":
            m = rnd.choice(people)
            r = m.call("POST", f"{F}/{fs['id']}/attempts", {"channel": "app", "quantity": rnd.choice([1, 1, 2])})
            assert r.status_code in (201, 409), r.text
            if r.status_code == 201:
                held.append((m, r.json()))
        elif step == "order" and held:
            m, res = held.pop(rnd.randrange(len(held)))
            r = m.call("POST", "/api/v1/orders", {"channel": "app", "address": ADDRESS, "promotion": res["promotion"],
                                                  "lines": [{"sku_id": res["sku_id"], "quantity": res["quantity"]}]})
            assert r.status_code in (201, 409), r.text  # 409: expired meanwhile
            o = r.json() if r.status_code == 201 else None
            if o is not None:
                orders.append((m, o))
        elif step == "pay" and orders:
            m, o = orders.pop(rnd.randrange(len(orders)))
            m.pay_online(o)
        elif step == "cancel" and orders:
            m, o = orders.pop(rnd.randrange(len(orders)))
            assert m.call("POST", f"/api/v1/orders/{o['id']}/cancel", {"reason": "x"}).status_code == 200
        elif step == "expire":
            clock += timedelta(seconds=rnd.choice([10, 70]))
            sweep(api, clock)
        settle(api)
        s = stats(shop, fs["id"])
        assert s["balanced"], s
        assert s["remaining"] >= 0
    with api.runtime.db.session() as session:
        taken = [r for r in session.query(FlashReservation).filter_by(session_id=fs["id"])
                 if r.status in ("reserved", "ordered", "sold")]
    assert sum(r.quantity for r in taken) == 5 - stats(shop, fs["id"])["remaining"]


def test_the_attempt_fast_path_answers_like_the_platform_api(api: Api, shop: Shop) -> None:
    fs = flash_sale(shop)
    ann = shop.member("13800000061")
    c, url, h = shop.api.client, f"{F}/{fs['id']}/attempts", {"Authorization": f"Bearer {ann.token}"}
    for bad in ({"channel": "tv"}, {"channel": "app", "quantity": 0}, {"channel": "app", "extra": 1}, {}):
        r = c.post(url, json=bad, headers=h)
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", (bad, r.text)
    assert c.post(url, json={"channel": "app"}).json()["error"]["code"] == "invalid_token"
    assert c.post(url, json={"channel": "app"}, headers={"Authorization": "Bearer a.b.c"}).status_code == 401
    assert c.post(f"{F}/nope/attempts", json={"channel": "app"}, headers=h).json()["error"]["code"] \
        == "flash_session_not_found"
    r = c.post(url, json={"channel": "app"}, headers=h | {"Origin": "https://shop.example"})
    assert r.status_code == 201 and r.headers["access-control-allow-origin"] == "*"
    assert r.json()["person_id"] == ann.person_id
