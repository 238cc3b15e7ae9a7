"""The one after-sales and payment policy, honoured: the return window (default and changed), reasons when
the policy asks for them, refund-only requests, and the unpaid timeout as the sweeper applies it. Time
passes by moving an order's timestamps (as the sweeper tests do) or by the sweeper's injectable clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update

from siyu.kit.clock import utcnow
from siyu.orders.models import Order
from siyu.orders.tasks import OrderSweeper
from tests.orders.shop import Member, Shop, snapshot


def delivered(shop: Shop, m: Member, qty: int = 3) -> dict[str, Any]:
    """A delivery order of ``qty`` scarves, paid and delivered (completed: the return window is open)."""
    order = m.order("web", ("SCARF-RED", qty))
    m.pay_online(order)
    shipped = shop.admin("POST", f"/api/v1/orders/{order['id']}/shipments", {"carrier": "SF", "tracking_number": "1"},
                         status=201)
    done = shop.admin("POST", f"/api/v1/orders/{order['id']}/shipments/{shipped['shipments'][0]['id']}/events",
                      {"status": "delivered"})
    assert done["status"] == "completed"
    return order


def completed_ago(shop: Shop, order_id: str, ago: timedelta) -> datetime:
    """Time passes: the order was completed ``ago``."""
    at = utcnow() - ago
    with shop.api.runtime.db.session() as s:
        s.execute(update(Order).where(Order.id == order_id).values(completed_at=at))
    return at


def ask(m: Member, order: dict[str, Any], qty: int = 1, **kw: Any) -> Any:
    return m.call("POST", f"/api/v1/orders/{order['id']}/returns",
                  {"lines": [{"line_id": order["lines"][0]["id"], "quantity": qty}], **kw})


def test_the_return_window_closes_after_seven_days(shop: Shop) -> None:
    lin = shop.member("13800133000")
    order = delivered(shop, lin)
    # day 7, a minute before the deadline: still open
    at = completed_ago(shop, order["id"], timedelta(days=7) - timedelta(minutes=1))
    deadline = datetime.fromisoformat(lin.call("GET", f"/api/v1/orders/{order['id']}").json()["return_deadline"])
    assert deadline == at + timedelta(days=7)
    r = ask(lin, order)
    assert r.status_code == 201, r.text
    # day 8: closed, with its code, and nothing written
    completed_ago(shop, order["id"], timedelta(days=8))
    before = snapshot(shop)
    r = ask(lin, order)
    assert r.status_code == 409 and r.json()["error"]["code"] == "return_window_closed", r.text
    assert r.json()["error"]["details"]["order_id"] == order["id"]
    assert snapshot(shop) == before
    assert len(lin.call("GET", f"/api/v1/orders/{order['id']}/returns").json()) == 1


def test_a_changed_return_window_is_honoured(shop: Shop) -> None:
    lin = shop.member("13800133001")
    order = delivered(shop, lin)
    at = completed_ago(shop, order["id"], timedelta(days=8))
    assert ask(lin, order).status_code == 409  # the default 7 days
    shop.admin("PUT", "/api/v1/commerce/policy", {"return_window_days": 15})
    seen = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert datetime.fromisoformat(seen["return_deadline"]) == at + timedelta(days=15)
    r = ask(lin, order)
    assert r.status_code == 201, r.text
    # shorter than the default: day 4 of a 3-day window is closed
    shop.admin("PUT", "/api/v1/commerce/policy", {"return_window_days": 3})
    completed_ago(shop, order["id"], timedelta(days=3, minutes=1))
    r = ask(lin, order)
    assert r.status_code == 409 and r.json()["error"]["code"] == "return_window_closed", r.text


def test_a_reason_only_when_the_policy_asks_for_one(shop: Shop) -> None:
    lin = shop.member("13800133002")
    order = delivered(shop, lin)
    assert ask(lin, order).status_code == 201  # 七天无理由: by default no reason is needed
    shop.admin("PUT", "/api/v1/commerce/policy", {"returns_need_reason": True})
    assert shop.admin("GET", "/api/v1/commerce/policy")["returns_need_reason"] is True
    before = snapshot(shop)
    for reason in ("", "   "):
        r = ask(lin, order, reason=reason)
        assert r.status_code == 422 and r.json()["error"]["code"] == "reason_required", r.text
    assert snapshot(shop) == before
    r = ask(lin, order, reason="尺寸不合适")
    assert r.status_code == 201 and r.json()["reason"] == "尺寸不合适", r.text


def test_refund_only_is_refunded_on_approval_without_goods_or_stock(shop: Shop) -> None:
    lin = shop.member("13800133003")
    order = delivered(shop, lin, qty=2)
    assert shop.levels("SCARF-RED")[shop.warehouse] == (48, 0)
    r = ask(lin, order, kind="refund_only", reason="少发一条")
    assert r.status_code == 201 and r.json()["kind"] == "refund_only", r.text
    ret = r.json()
    refunded = shop.admin("POST", f"/api/v1/returns/{ret['id']}/decision", {"approve": True})
    assert refunded["status"] == "refunded" and refunded["refund_id"]  # no goods to wait for
    seen = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert seen["refunded_fen"] == 19900 and seen["lines"][0]["refunded_quantity"] == 1
    assert [(x["id"], x["return_id"], x["amount_fen"]) for x in seen["refunds"]] == [
        (refunded["refund_id"], ret["id"], 19900)]
    assert shop.levels("SCARF-RED")[shop.warehouse] == (48, 0)  # nothing came back to the warehouse
    r = shop.admin("POST", f"/api/v1/returns/{ret['id']}/receive", status=409)
    assert r["error"]["code"] == "invalid_order_state"
    # the refunded unit cannot be claimed again; the other one can, and a rejection frees it again
    assert ask(lin, order, qty=2).status_code == 409
    other = ask(lin, order, kind="refund_only").json()
    assert shop.admin("POST", f"/api/v1/returns/{other['id']}/decision", {"approve": False})["status"] == "rejected"
    assert ask(lin, order).status_code == 201


def test_before_shipping_every_request_is_refund_only(shop: Shop) -> None:
    lin = shop.member("13800133004")
    order = lin.order("app", ("SCARF-RED", 1))
    lin.pay_online(order)
    r = ask(lin, order, kind="return")
    assert r.status_code == 201 and r.json()["kind"] == "refund_only", r.text


def test_the_sweeper_honours_the_unpaid_timeout_of_the_policy(shop: Shop) -> None:
    shop.admin("PUT", "/api/v1/commerce/policy", {"unpaid_timeout_minutes": 5})
    lin = shop.member("13800133005")
    order = lin.order("miniprogram", ("SCARF-RED", 2))
    created = datetime.fromisoformat(order["created_at"])
    assert datetime.fromisoformat(order["reserve_expires_at"]) == created + timedelta(minutes=5)
    db = shop.api.runtime.db
    assert OrderSweeper(db, 1, clock=lambda: created + timedelta(minutes=4, seconds=59)).sweep() == (0, 0)
    assert lin.call("GET", f"/api/v1/orders/{order['id']}").json()["status"] == "pending_payment"
    assert shop.levels("SCARF-RED")[shop.warehouse] == (50, 2)
    assert OrderSweeper(db, 1, clock=lambda: created + timedelta(minutes=5)).sweep() == (1, 0)
    seen = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert (seen["status"], seen["cancel_reason"]) == ("cancelled", "payment_timeout")
    assert shop.levels("SCARF-RED")[shop.warehouse] == (50, 0)
    # a longer timeout holds the stock longer
    shop.admin("PUT", "/api/v1/commerce/policy", {"unpaid_timeout_minutes": 60})
    later = lin.order("miniprogram", ("SCARF-RED", 1))
    created = datetime.fromisoformat(later["created_at"])
    assert OrderSweeper(db, 1, clock=lambda: created + timedelta(minutes=30)).sweep() == (0, 0)
    assert lin.call("GET", f"/api/v1/orders/{later['id']}").json()["status"] == "pending_payment"
    assert OrderSweeper(db, 1, clock=lambda: created + timedelta(minutes=60)).sweep() == (1, 0)
    assert lin.call("GET", f"/api/v1/orders/{later['id']}").json()["status"] == "cancelled"
