"""Refunds before the order ships: the units refunded go back to stock where they were reserved and leave
the shipment; an order refunded in full before it ships is closed (cancelled, ``cancel_reason: refunded``)
with every unit back in stock and all its money refunded, delivery fee included. Stock totals are checked
on every step: no unit is lost, none counted twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, insert, select
from sqlalchemy.exc import IntegrityError

from siyu.db import Base
from siyu.kit.clock import utcnow
from siyu.migrate import upgrade
from siyu.orders.models import Order, OrderLine
from siyu.outbox.models import OutboxMessage
from tests.orders.shop import Member, Shop, snapshot

START = 55  # SCARF-RED on hand: 50 in the warehouse, 5 at the store


def totals(shop: Shop) -> tuple[int, int]:
    """SCARF-RED on hand and reserved, over every location."""
    levels = shop.levels("SCARF-RED").values()
    return sum(on for on, _ in levels), sum(res for _, res in levels)


def see(m: Member, order: dict[str, Any]) -> Any:
    r = m.call("GET", f"/api/v1/orders/{order['id']}")
    assert r.status_code == 200, r.text
    return r.json()


def refund_only(shop: Shop, m: Member, order: dict[str, Any], qty: int, line: int = 0) -> Any:
    """The customer asks for a refund of ``qty`` units of a line; the operator approves (it is refunded)."""
    r = m.call("POST", f"/api/v1/orders/{order['id']}/returns",
               {"kind": "refund_only", "lines": [{"line_id": order["lines"][line]["id"], "quantity": qty}]})
    assert r.status_code == 201, r.text
    approved = shop.admin("POST", f"/api/v1/returns/{r.json()['id']}/decision", {"approve": True})
    assert approved["status"] == "refunded", approved
    return approved


def events(shop: Shop, order_id: str, topic: str) -> list[dict[str, Any]]:
    with shop.api.runtime.db.session() as s:
        rows = s.scalars(select(OutboxMessage.payload).where(OutboxMessage.topic == topic)
                         .order_by(OutboxMessage.seq)).all()
    return [p for p in rows if p["data"]["order_id"] == order_id]


def shipped_units(shop: Shop, order_id: str) -> list[tuple[str, int]]:
    (shipped,) = events(shop, order_id, "orders.shipped")
    return [(p["sku"], p["quantity"]) for p in shipped["track"]["properties"]["products"]]


def test_units_refunded_before_shipping_go_back_to_stock_and_are_not_shipped(shop: Shop) -> None:
    lin = shop.member("13800135000")
    order = lin.order("web", ("SCARF-RED", 3))
    lin.pay_online(order)
    shop.admin("POST", f"/api/v1/orders/{order['id']}/fulfilment")
    assert shop.levels("SCARF-RED")[shop.warehouse] == (47, 0) and totals(shop) == (START - 3, 0)
    refund_only(shop, lin, order, 1)
    # the refunded scarf is back on the warehouse's shelf, and off the order's shipment
    assert shop.levels("SCARF-RED")[shop.warehouse] == (48, 0) and totals(shop) == (START - 2, 0)
    seen = see(lin, order)
    assert seen["status"] == "fulfilling" and seen["refunded_fen"] == 19900
    line = seen["lines"][0]
    assert (line["refunded_quantity"], line["cancelled_quantity"], line["ship_quantity"]) == (1, 1, 2)
    # the shipment carries the two units left
    shop.admin("POST", f"/api/v1/orders/{order['id']}/shipments", {"carrier": "SF", "tracking_number": "1"},
               status=201)
    assert shipped_units(shop, order["id"]) == [("SCARF-RED", 2)]
    assert totals(shop) == (START - 2, 0)
    # once shipped the return flow applies: the two shipped units can come back, not a third
    r = lin.call("POST", f"/api/v1/orders/{order['id']}/returns",
                 {"kind": "return", "lines": [{"line_id": order["lines"][0]["id"], "quantity": 3}]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "refund_exceeds_paid", r.text
    r = lin.call("POST", f"/api/v1/orders/{order['id']}/returns",
                 {"kind": "return", "lines": [{"line_id": order["lines"][0]["id"], "quantity": 2}]})
    assert r.status_code == 201 and r.json()["kind"] == "return", r.text
    shop.admin("POST", f"/api/v1/returns/{r.json()['id']}/decision", {"approve": True})
    assert totals(shop) == (START - 2, 0)  # nothing back before the goods are
    shop.admin("POST", f"/api/v1/returns/{r.json()['id']}/receive")
    assert totals(shop) == (START, 0) and shop.levels("SCARF-RED")[shop.warehouse] == (50, 0)
    seen = see(lin, order)
    assert (seen["status"], seen["refunded_fen"], seen["lines"][0]["refunded_quantity"]) == ("shipped", 59700, 3)


def test_a_refund_only_after_shipping_moves_no_stock(shop: Shop) -> None:
    lin = shop.member("13800135001")
    order = lin.order("app", ("SCARF-RED", 2))
    lin.pay_online(order)
    shop.admin("POST", f"/api/v1/orders/{order['id']}/shipments", {"carrier": "SF", "tracking_number": "1"},
               status=201)
    refund_only(shop, lin, order, 2)  # 仅退款 of goods the customer keeps (or never got from the carrier)
    assert totals(shop) == (START - 2, 0)
    seen = see(lin, order)
    assert (seen["status"], seen["lines"][0]["cancelled_quantity"], seen["lines"][0]["ship_quantity"]) \
        == ("shipped", 0, 2)


def test_an_order_refunded_in_full_before_shipping_is_closed(shop: Shop) -> None:
    shop.admin("PUT", "/api/v1/commerce/policy", {"shipping_fee_fen": 1000})
    lin = shop.member("13800135002", user_id="member-5002")
    order = lin.order("miniprogram", ("SCARF-RED", 2))
    assert order["total_fen"] == 39800 + 1000
    lin.pay_online(order)
    shop.admin("POST", f"/api/v1/orders/{order['id']}/fulfilment")
    refund_only(shop, lin, order, 1)
    assert see(lin, order)["status"] == "fulfilling" and totals(shop) == (START - 1, 0)
    last = refund_only(shop, lin, order, 1)
    # every unit refunded before shipping: the order is closed, all its money going back, delivery included
    seen = see(lin, order)
    assert (seen["status"], seen["cancel_reason"]) == ("cancelled", "refunded") and seen["cancelled_at"]
    assert seen["refunded_fen"] == seen["paid_fen"] == 40800
    assert sorted((r["reason"], r["amount_fen"]) for r in seen["refunds"]) == [
        ("order_closed", 1000), ("return:refund_only", 19900), ("return:refund_only", 19900)]
    assert [r["id"] for r in seen["refunds"] if r["return_id"] == last["id"]] == [last["refund_id"]]
    line = seen["lines"][0]
    assert (line["refunded_quantity"], line["cancelled_quantity"], line["ship_quantity"]) == (2, 2, 0)
    assert totals(shop) == (START, 0) and shop.levels("SCARF-RED")[shop.warehouse] == (50, 0)
    # nothing is left to ship, hand over, refund or cancel
    before = snapshot(shop)
    for path, body in ((f"/api/v1/orders/{order['id']}/shipments", {"carrier": "SF", "tracking_number": "1"}),
                       (f"/api/v1/orders/{order['id']}/cancel", None),
                       (f"/api/v1/orders/{order['id']}/refunds", {"amount_fen": 1})):
        r = shop.admin("POST", path, body, status=409)
        assert r["error"]["code"] in ("invalid_order_state", "refund_exceeds_paid"), r
    assert snapshot(shop) == before
    # the refunds settle; the closing reaches the event store once, and the profile's refunds add up
    for r in seen["refunds"]:
        shop.callback("refund.succeeded", refund_id=r["id"])
    shop.api.drain()
    rows = shop.api.sql("SELECT event, json_extract_string(properties, '$.reason') FROM events WHERE "
                        "source_id = 'siyu' AND event = 'Order Cancelled' AND user_id = 'member-5002'")
    assert rows == [["Order Cancelled", "refunded"]]
    assert lin.call("GET", "/api/v1/me").json()["counters"]["refunded_fen"] == 40800


def test_an_operators_refund_of_every_fen_before_shipping_closes_the_order(shop: Shop) -> None:
    lin = shop.member("13800135003")
    order = lin.order("web", ("SCARF-RED", 3))
    shop.admin("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "manual"}, status=201)
    line = order["lines"][0]["id"]
    # one unit by line: back to stock; then money only (a price adjustment): no unit moves, the order stays
    shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds", {"lines": [{"line_id": line, "quantity": 1}]},
               status=201)
    assert totals(shop) == (START - 2, 0)
    shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds", {"amount_fen": 900}, status=201)
    seen = see(lin, order)
    assert (seen["status"], seen["refunded_fen"], seen["lines"][0]["ship_quantity"]) == ("paid", 20800, 2)
    assert totals(shop) == (START - 2, 0)
    # then the rest of the money: nothing is paid for any more, so nothing ships and the stock comes back
    shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds", {"reason": "all"}, status=201)
    seen = see(lin, order)
    assert (seen["status"], seen["cancel_reason"], seen["refunded_fen"]) == ("cancelled", "refunded", 59700)
    assert (seen["lines"][0]["cancelled_quantity"], seen["lines"][0]["ship_quantity"]) == (3, 0)
    assert totals(shop) == (START, 0)
    assert [r["reason"] for r in seen["refunds"]] == ["operator", "operator", "all"]


def test_a_pickup_order_refunded_while_it_waits_at_the_store(shop: Shop) -> None:
    lin = shop.member("13800135004")
    order = lin.order("app", ("SCARF-RED", 2), pickup=True)
    shop.admin("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "manual"}, status=201)
    shop.admin("POST", f"/api/v1/orders/{order['id']}/ready-for-pickup")
    assert shop.levels("SCARF-RED")[shop.store] == (3, 0)
    # not yet in the customer's hands: a "return" is a refund, the unit back on the store's shelf
    r = lin.call("POST", f"/api/v1/orders/{order['id']}/returns",
                 {"kind": "return", "lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}]})
    assert r.status_code == 201 and r.json()["kind"] == "refund_only", r.text
    shop.admin("POST", f"/api/v1/returns/{r.json()['id']}/decision", {"approve": True})
    assert shop.levels("SCARF-RED")[shop.store] == (4, 0) and totals(shop) == (START - 1, 0)
    seen = see(lin, order)
    assert (seen["status"], seen["lines"][0]["ship_quantity"]) == ("ready_for_pickup", 1)
    assert seen["pickup_code"] is not None
    refund_only(shop, lin, order, 1)
    seen = see(lin, order)
    assert (seen["status"], seen["cancel_reason"], seen["pickup_code"]) == ("cancelled", "refunded", None)
    assert shop.levels("SCARF-RED")[shop.store] == (5, 0) and totals(shop) == (START, 0)


def test_cancelling_after_a_partial_refund_puts_back_only_the_rest(shop: Shop) -> None:
    lin = shop.member("13800135005")
    order = lin.order("web", ("SCARF-RED", 3))
    lin.pay_online(order)
    refund_only(shop, lin, order, 1)
    assert totals(shop) == (START - 2, 0)
    shop.admin("POST", f"/api/v1/orders/{order['id']}/cancel", {"reason": "out_of_season"})
    seen = see(lin, order)
    assert (seen["status"], seen["cancel_reason"], seen["refunded_fen"]) == ("cancelled", "out_of_season", 59700)
    assert seen["lines"][0]["cancelled_quantity"] == 3
    assert totals(shop) == (START, 0)


def test_a_failed_refund_of_a_closed_order_leaves_money_owed_not_stock(shop: Shop) -> None:
    lin = shop.member("13800135006")
    order = lin.order("web", ("SCARF-RED", 1))
    lin.pay_online(order)
    refund_id = refund_only(shop, lin, order, 1)["refund_id"]
    assert see(lin, order)["status"] == "cancelled" and totals(shop) == (START, 0)
    r = shop.callback("refund.failed", refund_id=refund_id)
    assert r.status_code == 200 and r.json()["outcome"] == "failed", r.text
    seen = see(lin, order)
    # the money is owed again (and can be refunded again); the scarf stays in stock, once
    assert (seen["status"], seen["refunded_fen"], seen["lines"][0]["cancelled_quantity"]) == ("cancelled", 0, 1)
    assert totals(shop) == (START, 0)
    again = shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds", {"reason": "retry"}, status=201)
    assert again["amount_fen"] == 19900
    assert totals(shop) == (START, 0)
    assert see(lin, order)["refunded_fen"] == 19900


def test_a_unit_taken_off_whose_refund_failed_is_owed_money_and_cannot_be_returned(shop: Shop) -> None:
    lin = shop.member("13800135007")
    order = lin.order("app", ("SCARF-RED", 3))
    lin.pay_online(order)
    refund_id = refund_only(shop, lin, order, 1)["refund_id"]
    assert shop.callback("refund.failed", refund_id=refund_id).json()["outcome"] == "failed"
    shop.admin("POST", f"/api/v1/orders/{order['id']}/shipments", {"carrier": "SF", "tracking_number": "1"},
               status=201)
    assert shipped_units(shop, order["id"]) == [("SCARF-RED", 2)] and totals(shop) == (START - 2, 0)
    # three units are unrefunded but only two shipped: two can be sent back, not the one still in the warehouse
    line = order["lines"][0]["id"]
    r = lin.call("POST", f"/api/v1/orders/{order['id']}/returns",
                 {"kind": "return", "lines": [{"line_id": line, "quantity": 3}]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "refund_exceeds_paid", r.text
    r = lin.call("POST", f"/api/v1/orders/{order['id']}/returns",
                 {"kind": "return", "lines": [{"line_id": line, "quantity": 2}]})
    assert r.status_code == 201, r.text
    shop.admin("POST", f"/api/v1/returns/{r.json()['id']}/decision", {"approve": True})
    shop.admin("POST", f"/api/v1/returns/{r.json()['id']}/receive")
    assert totals(shop) == (START, 0)
    # the money for the unit that never left is still owed: refund-only
    refund_only(shop, lin, order, 1)
    seen = see(lin, order)
    assert (seen["refunded_fen"], seen["lines"][0]["refunded_quantity"]) == (59700, 3)
    assert totals(shop) == (START, 0)


def test_the_line_migration_matches_the_model(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    upgrade(database_url)
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if "order_lines" in repr(d)] == []
        # the database itself refuses more units taken off a line than it has
        with engine.begin() as conn:
            conn.execute(insert(Order).values(id="o1", person_id="p1", channel="web", status="paid",
                                              fulfilment="delivery", currency="CNY", subtotal_fen=100, total_fen=100,
                                              paid_fen=100, created_at=utcnow()))
        for taken, ok in ((2, True), (3, False), (-1, False)):
            try:
                with engine.begin() as conn:
                    conn.execute(insert(OrderLine).values(id=f"l{taken}", order_id="o1", sku_code="X", title="x",
                                                          quantity=2, unit_price_fen=50, total_fen=100,
                                                          refunded_quantity=0, cancelled_quantity=taken))
                assert ok, taken
            except IntegrityError:
                assert not ok, taken
    finally:
        engine.dispose()
