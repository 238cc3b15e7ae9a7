"""The webhook provider's callbacks beyond the happy path: a payment that failed, a refund that failed, and
a refund the provider made on its own (``payment.refunded``: the brand refunded in the provider's dashboard),
each idempotent when the provider sends it again."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import create_engine

from siyu.db import Base
from siyu.migrate import upgrade
from tests.orders.shop import ADDRESS, Member, Shop, snapshot


def open_webhook(m: Member, order: dict[str, Any]) -> str:
    r = m.call("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "webhook"})
    assert r.status_code == 201, r.text
    return str(r.json()["provider_ref"])


def outcome(r: Any) -> str:
    assert r.status_code == 200, r.text
    return str(r.json()["outcome"])


def send(shop: Shop, event_id: str, type_: str, **data: Any) -> Any:
    """A callback with its own id (a provider re-sending one under a new id)."""
    return shop.signed(json.dumps({"id": event_id, "type": type_, "data": data}).encode())


def refunded_there(shop: Shop, payment_ref: str, refund_ref: str, amount_fen: int, event_id: str = "") -> Any:
    """The provider's ``payment.refunded`` callback for a refund made there (its id: one per refund unless
    ``event_id`` says otherwise)."""
    return send(shop, event_id or f"evt-{refund_ref}", "payment.refunded", payment_ref=payment_ref,
                refund_ref=refund_ref, amount_fen=amount_fen)


def test_a_failed_payment_leaves_the_order_waiting_for_another(shop: Shop) -> None:
    lin = shop.member("13800132000")
    order = lin.order("app", ("SCARF-RED", 1))
    ref = open_webhook(lin, order)
    assert outcome(shop.callback("payment.failed", payment_ref=ref)) == "failed"
    assert outcome(shop.callback("payment.failed", payment_ref=ref)) == "duplicate"
    seen = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert seen["status"] == "pending_payment" and seen["paid_fen"] == 0 and seen["refunds"] == []
    assert [p["status"] for p in seen["payments"]] == ["failed"] and seen["payments"][0]["settled_at"]
    assert shop.levels("SCARF-RED")[shop.warehouse] == (50, 1)  # still reserved for the next attempt
    # the customer tries again and pays
    assert lin.pay_online(order)["outcome"] == "succeeded"
    seen = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert seen["status"] == "paid" and [p["status"] for p in seen["payments"]] == ["failed", "succeeded"]
    assert shop.levels("SCARF-RED")[shop.warehouse] == (49, 0)
    # a "failed" that arrives after the success (out of order) changes nothing, and says so
    second_ref = seen["payments"][1]["provider_ref"]
    assert outcome(send(shop, "evt-late-failure", "payment.failed", payment_ref=second_ref)) == "succeeded"
    seen = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert seen["status"] == "paid" and [p["status"] for p in seen["payments"]] == ["failed", "succeeded"]


def test_a_failed_refund_makes_the_order_refundable_again(shop: Shop) -> None:
    lin = shop.member("13800132001")
    order = lin.order("web", ("SCARF-RED", 2))
    lin.pay_online(order)
    line = order["lines"][0]["id"]
    refund = shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds",
                        {"lines": [{"line_id": line, "quantity": 1}], "reason": "damaged"}, status=201)
    assert refund["status"] == "pending"
    seen = shop.admin("GET", f"/api/v1/orders/{order['id']}")
    assert seen["refunded_fen"] == 19900 and seen["lines"][0]["refunded_quantity"] == 1
    assert outcome(shop.callback("refund.failed", refund_id=refund["id"])) == "failed"
    assert outcome(shop.callback("refund.failed", refund_id=refund["id"])) == "duplicate"
    # a success reported afterwards (under another id) does not revive it
    assert outcome(send(shop, "evt-late-success", "refund.succeeded", refund_id=refund["id"])) == "failed"
    seen = shop.admin("GET", f"/api/v1/orders/{order['id']}")
    assert seen["refunded_fen"] == 0 and seen["lines"][0]["refunded_quantity"] == 0
    assert [r["status"] for r in seen["refunds"]] == ["failed"] and seen["status"] == "paid"
    # all of it can be refunded again, and this time it goes through
    again = shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds", {"reason": "damaged"}, status=201)
    assert again["amount_fen"] == 39800
    assert outcome(shop.callback("refund.succeeded", refund_id=again["id"])) == "succeeded"
    seen = shop.admin("GET", f"/api/v1/orders/{order['id']}")
    assert seen["refunded_fen"] == 39800 and [r["status"] for r in seen["refunds"]] == ["failed", "succeeded"]
    # only the refund that went through reached the event store and the profile
    shop.api.drain()
    rows = shop.api.sql("SELECT CAST(json_extract(properties, '$.total_fen') AS BIGINT) FROM events "
                        "WHERE event = 'Order Refunded'")
    assert rows == [[39800]]
    assert lin.call("GET", "/api/v1/me").json()["counters"]["refunded_fen"] == 39800


def test_a_failed_after_sales_refund_frees_the_request(shop: Shop) -> None:
    lin = shop.member("13800132002")
    order = lin.order("miniprogram", ("SCARF-RED", 2))  # one of two refunded: the order stays open
    lin.pay_online(order)
    ask = {"kind": "refund_only", "lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}]}
    ret = lin.call("POST", f"/api/v1/orders/{order['id']}/returns", ask).json()
    refund_id = shop.admin("POST", f"/api/v1/returns/{ret['id']}/decision", {"approve": True})["refund_id"]
    assert shop.levels("SCARF-RED")[shop.warehouse] == (49, 0)  # not shipped: the unit went back to stock
    assert outcome(shop.callback("refund.failed", refund_id=refund_id)) == "failed"
    returns = lin.call("GET", f"/api/v1/orders/{order['id']}/returns").json()
    assert [(r["id"], r["status"]) for r in returns] == [(ret["id"], "refund_failed")]
    seen = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert seen["refunded_fen"] == 0 and seen["lines"][0]["refunded_quantity"] == 0
    # the unit stays off the order and in stock: what failed is the money, which is still owed
    assert (seen["status"], seen["lines"][0]["cancelled_quantity"], seen["lines"][0]["ship_quantity"]) \
        == ("paid", 1, 1)
    assert shop.levels("SCARF-RED")[shop.warehouse] == (49, 0)
    # the customer may ask again for the same scarf, and be refunded (the unit is not put back twice)
    again = lin.call("POST", f"/api/v1/orders/{order['id']}/returns", ask)
    assert again.status_code == 201, again.text
    refund_id = shop.admin("POST", f"/api/v1/returns/{again.json()['id']}/decision", {"approve": True})["refund_id"]
    assert outcome(shop.callback("refund.succeeded", refund_id=refund_id)) == "succeeded"
    seen = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert seen["refunded_fen"] == 19900 and seen["lines"][0]["refunded_quantity"] == 1
    assert (seen["status"], seen["lines"][0]["cancelled_quantity"]) == ("paid", 1)
    assert shop.levels("SCARF-RED")[shop.warehouse] == (49, 0)


def test_a_full_refund_gives_the_coupon_back_only_once_it_went_through(shop: Shop) -> None:
    lin = shop.member("13800132003")
    template = shop.admin("POST", "/api/v1/promotions/coupon-templates",
                          {"name": "券", "kind": "fixed", "amount_fen": 2000, "valid_days": 30}, status=201)
    coupon = lin.call("POST", f"/api/v1/promotions/coupon-templates/{template['id']}/claim",
                      {"channel": "web"}).json()["id"]
    r = lin.call("POST", "/api/v1/orders", {"channel": "web", "lines": [{"sku_code": "SCARF-RED", "quantity": 1}],
                                            "address": ADDRESS,
                                            "coupons": [coupon]})
    assert r.status_code == 201, r.text
    order = r.json()
    lin.pay_online(order)

    def status() -> str:
        return str(lin.call("GET", "/api/v1/promotions/coupons").json()[0]["status"])

    refund = shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds", {"reason": "all"}, status=201)
    assert status() == "redeemed"  # asked for, not yet paid out
    shop.callback("refund.failed", refund_id=refund["id"])
    assert status() == "redeemed"
    # the brand then refunds it in the provider's dashboard
    ref = order_payment_ref(shop, order["id"])
    assert outcome(refunded_there(shop, ref, "re_all", order["total_fen"])) == "refunded"
    assert status() == "available"


def order_payment_ref(shop: Shop, order_id: str) -> str:
    return str(shop.admin("GET", f"/api/v1/orders/{order_id}")["payments"][0]["provider_ref"])


def test_a_refund_made_in_the_providers_dashboard_is_recorded_once(shop: Shop) -> None:
    lin = shop.member("13800132004", user_id="member-2004")
    order = lin.order("app", ("SCARF-RED", 2))
    lin.pay_online(order)
    ref = order_payment_ref(shop, order["id"])
    levels = shop.levels("SCARF-RED")
    assert outcome(refunded_there(shop, ref, "re_1", 10000)) == "refunded"
    # the same callback again, and re-sent under new ids: one refund
    assert outcome(refunded_there(shop, ref, "re_1", 10000)) == "duplicate"
    for i in range(3):
        assert outcome(refunded_there(shop, ref, "re_1", 10000, event_id=f"evt-resent-{i}")) == "duplicate"
    seen = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert seen["status"] == "paid" and seen["refunded_fen"] == 10000
    assert [(r["amount_fen"], r["status"], r["reason"], r["provider_ref"], r["lines"]) for r in seen["refunds"]] \
        == [(10000, "succeeded", "provider", "re_1", [])]
    assert seen["lines"][0]["refunded_quantity"] == 0
    assert shop.levels("SCARF-RED") == levels  # money only: no stock moves (as for a refund-only request)
    # the rest, refunded there too; then nothing is left to refund, in the provider or in Siyu
    assert outcome(refunded_there(shop, ref, "re_2", 29800)) == "refunded"
    before = snapshot(shop)
    r = refunded_there(shop, ref, "re_3", 1)
    assert r.status_code == 409 and r.json()["error"]["code"] == "refund_exceeds_paid", r.text
    r = shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds", {"amount_fen": 1}, status=409)
    assert r["error"]["code"] == "refund_exceeds_paid"
    assert snapshot(shop) == before
    seen = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert seen["refunded_fen"] == seen["paid_fen"] == 39800 and len(seen["refunds"]) == 2
    # they reach the event store and the profile like any refund, each once
    shop.api.drain()
    rows = shop.api.sql("SELECT CAST(json_extract(properties, '$.total_fen') AS BIGINT), user_id FROM events "
                        "WHERE event = 'Order Refunded' ORDER BY 1")
    assert rows == [[10000, "member-2004"], [29800, "member-2004"]]
    assert lin.call("GET", "/api/v1/me").json()["counters"]["refunded_fen"] == 39800


def test_a_provider_refund_of_a_refused_payment_is_recorded_apart_from_the_order(shop: Shop) -> None:
    lin = shop.member("13800132005")
    order = lin.order("web", ("SCARF-RED", 1))
    ref = open_webhook(lin, order)
    assert lin.call("POST", f"/api/v1/orders/{order['id']}/cancel").status_code == 200
    # the money arrives after the cancellation: refused, and a refund asked for
    assert outcome(shop.callback("payment.succeeded", payment_ref=ref, amount_fen=order["total_fen"])) == "refused"
    assert outcome(refunded_there(shop, ref, "re_x", order["total_fen"])) == "refunded"
    seen = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert (seen["status"], seen["paid_fen"], seen["refunded_fen"]) == ("cancelled", 0, 0)
    assert sorted((r["reason"], r["status"]) for r in seen["refunds"]) == [("order_cancelled", "pending"),
                                                                          ("provider", "succeeded")]
    r = refunded_there(shop, ref, "re_y", order["total_fen"] + 1)
    assert r.status_code == 409 and r.json()["error"]["code"] == "refund_exceeds_paid", r.text


def test_the_refund_migration_matches_the_model(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    upgrade(database_url)
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in diff if "refunds" in repr(d)] == []
