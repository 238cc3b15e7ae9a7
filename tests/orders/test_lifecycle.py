"""The whole order lifecycle through the HTTP API, from each channel and for both fulfilment ways."""

from __future__ import annotations

import pytest

from tests.orders.shop import Shop


@pytest.mark.parametrize("channel", ["miniprogram", "web", "app"])
def test_delivery_order_from_payment_to_return(shop: Shop, channel: str) -> None:
    lin = shop.member("13800138000")
    order = lin.order(channel, ("SCARF-RED", 2))
    assert order["status"] == "pending_payment" and order["total_fen"] == 2 * 19900
    assert order["channel"] == channel and order["lines"][0]["unit_price_fen"] == 19900
    assert shop.levels("SCARF-RED")[shop.warehouse] == (50, 2)  # reserved, not yet deducted

    assert lin.pay_online(order)["outcome"] == "succeeded"
    paid = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert paid["status"] == "paid" and paid["paid_fen"] == 39800
    assert shop.levels("SCARF-RED")[shop.warehouse] == (48, 0)  # deducted at payment

    shop.admin("POST", f"/api/v1/orders/{order['id']}/fulfilment")
    shipped = shop.admin("POST", f"/api/v1/orders/{order['id']}/shipments",
                         {"carrier": "SF", "tracking_number": "SF1234567890"}, status=201)
    assert shipped["status"] == "shipped"
    shipment = shipped["shipments"][0]["id"]
    shop.admin("POST", f"/api/v1/orders/{order['id']}/shipments/{shipment}/events", {"status": "in_transit"})
    done = shop.admin("POST", f"/api/v1/orders/{order['id']}/shipments/{shipment}/events",
                      {"status": "delivered"})
    assert done["status"] == "completed" and done["return_deadline"] is not None

    # seen from every channel: the member's order list is one list
    listed = lin.call("GET", "/api/v1/orders").json()["items"]
    assert [o["id"] for o in listed] == [order["id"]]

    # a return asked for in another channel, under the one policy
    other = "app" if channel != "app" else "web"
    r = lin.call("POST", f"/api/v1/orders/{order['id']}/returns",
                 {"kind": "return", "channel": other, "lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}]})
    assert r.status_code == 201, r.text
    ret = r.json()
    assert ret["status"] == "requested" and ret["amount_fen"] == 19900 and ret["channel"] == other
    approved = shop.admin("POST", f"/api/v1/returns/{ret['id']}/decision", {"approve": True})
    assert approved["status"] == "approved"
    refunded = shop.admin("POST", f"/api/v1/returns/{ret['id']}/receive")
    assert refunded["status"] == "refunded" and refunded["refund_id"]
    final = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert final["refunded_fen"] == 19900 and final["lines"][0]["refunded_quantity"] == 1
    assert shop.levels("SCARF-RED")[shop.warehouse] == (49, 0)  # the returned scarf is back in stock
    # the webhook provider settles refunds by callback
    assert final["refunds"][0]["status"] == "pending"
    shop.callback("refund.succeeded", payment_ref="-", refund_id=final["refunds"][0]["id"])
    final = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert final["refunds"][0]["status"] == "succeeded"


@pytest.mark.parametrize("channel", ["miniprogram", "web", "app"])
def test_store_pickup_with_a_code(shop: Shop, channel: str) -> None:
    lin = shop.member("13800138001")
    order = lin.order(channel, ("SCARF-RED", 1), pickup=True)
    assert (order["channel"], order["fulfilment"], order["pickup_location_id"]) == (channel, "pickup", shop.store)
    assert order["shipping_fen"] == 0 and order["address"] is None
    assert shop.levels("SCARF-RED")[shop.store] == (5, 1)  # reserved at the store itself
    paid = shop.admin("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "manual",
                                                                         "reference": "POS-0001"}, status=201)
    assert paid["status"] == "succeeded"
    ready = shop.admin("POST", f"/api/v1/orders/{order['id']}/ready-for-pickup")
    assert ready["status"] == "ready_for_pickup"
    code = lin.call("GET", f"/api/v1/orders/{order['id']}").json()["pickup_code"]
    assert code is not None and len(code) == 6 and code.isdigit()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    bad = shop.admin("POST", f"/api/v1/orders/{order['id']}/pickup", {"code": wrong}, status=422)
    assert bad["error"]["code"] == "wrong_pickup_code"
    done = shop.admin("POST", "/api/v1/stores/pickup", {"location_id": shop.store, "code": code})
    assert done["status"] == "completed" and done["return_deadline"] is not None
    assert shop.levels("SCARF-RED")[shop.store] == (4, 0)
    assert shop.levels("SCARF-RED")[shop.warehouse] == (50, 0)  # the warehouse was never touched


def test_wrong_pickup_codes_lock_the_order(shop: Shop) -> None:
    lin = shop.member("13800138002")
    order = lin.order("app", ("SCARF-RED", 1), pickup=True)
    shop.admin("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "manual"}, status=201)
    code = shop.admin("POST", f"/api/v1/orders/{order['id']}/ready-for-pickup")["pickup_code"]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        shop.admin("POST", f"/api/v1/orders/{order['id']}/pickup", {"code": wrong}, status=422)
    locked = shop.admin("POST", f"/api/v1/orders/{order['id']}/pickup", {"code": code}, status=409)
    assert locked["error"]["code"] == "pickup_locked"
    shop.admin("POST", f"/api/v1/orders/{order['id']}/pickup/unlock")
    assert shop.admin("POST", f"/api/v1/orders/{order['id']}/pickup", {"code": code})["status"] == "completed"


def test_cancellations_release_or_refund(shop: Shop) -> None:
    lin = shop.member("13800138003")
    unpaid = lin.order("miniprogram", ("SCARF-RED", 3))
    r = lin.call("POST", f"/api/v1/orders/{unpaid['id']}/cancel", {"reason": "changed_mind"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert shop.levels("SCARF-RED")[shop.warehouse] == (50, 0)

    paid = lin.order("miniprogram", ("SCARF-RED", 2))
    lin.pay_online(paid)
    assert shop.levels("SCARF-RED")[shop.warehouse] == (48, 0)
    r = lin.call("POST", f"/api/v1/orders/{paid['id']}/cancel")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "cancelled" and body["refunded_fen"] == body["paid_fen"] == 39800
    assert shop.levels("SCARF-RED")[shop.warehouse] == (50, 0)

    # once fulfilment starts, the customer can no longer cancel by themself
    third = lin.order("miniprogram", ("SCARF-RED", 1))
    lin.pay_online(third)
    shop.admin("POST", f"/api/v1/orders/{third['id']}/fulfilment")
    r = lin.call("POST", f"/api/v1/orders/{third['id']}/cancel")
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_order_state"


def test_order_events_reach_the_event_store_and_the_profile(shop: Shop) -> None:
    lin = shop.member("13800138004", user_id="member-4")
    first = lin.order("miniprogram", ("SCARF-RED", 1))
    lin.pay_online(first)
    second = lin.order("app", ("SCARF-APP", 2))
    lin.pay_online(second)
    refund = shop.admin("POST", f"/api/v1/orders/{second['id']}/refunds",
                        {"amount_fen": 5000, "reason": "price_match"}, status=201)
    assert refund["status"] == "pending"  # the webhook provider pays refunds out and calls back
    shop.callback("refund.succeeded", payment_ref="-", refund_id=refund["id"])
    shop.api.drain()
    rows = shop.api.sql("SELECT event, channel, person_id, user_id FROM events WHERE source_id = 'siyu' "
                        "ORDER BY timestamp, event")
    names = [(r[0], r[1]) for r in rows]
    assert ("Order Completed", "miniprogram") in names and ("Order Completed", "app") in names
    assert ("Order Refunded", "app") in names and ("Checkout Started", "app") in names
    assert {r[2] for r in rows} == {lin.person_id} and {r[3] for r in rows} == {"member-4"}
    revenue = shop.api.sql("SELECT sum(CAST(json_extract(properties, '$.total_fen') AS BIGINT)) FROM events "
                           "WHERE event = 'Order Completed'")
    assert revenue == [[19900 + 2 * 9900]]
    profile = lin.call("GET", "/api/v1/me").json()
    assert profile["counters"]["orders"] == 2
    assert profile["counters"]["revenue_fen"] == 19900 + 2 * 9900
    assert profile["counters"]["refunded_fen"] == 5000
    assert {c["channel"] for c in profile["channels"]} >= {"miniprogram", "app"}


def test_each_channel_takes_its_own_listing_price(shop: Shop) -> None:
    sku = shop.skus["SCARF-RED"]
    shop.admin("PUT", f"/api/v1/catalog/skus/{sku}/listings/web", {"price_fen": 18900})
    shop.admin("PUT", f"/api/v1/catalog/skus/{sku}/listings/app", {"price_fen": 17900})
    lin = shop.member("13800138005")
    prices = {"miniprogram": 19900, "web": 18900, "app": 17900}
    orders = {ch: lin.order(ch, ("SCARF-RED", 2)) for ch in prices}
    for ch, price in prices.items():
        o = orders[ch]
        assert (o["lines"][0]["unit_price_fen"], o["subtotal_fen"], o["total_fen"]) == (price, 2 * price, 2 * price), ch
    # a later price change is the next order's price, not the placed one's (nor what its payment must match)
    shop.admin("PUT", f"/api/v1/catalog/skus/{sku}/listings/app", {"price_fen": 15900})
    assert lin.order("app", ("SCARF-RED", 1))["total_fen"] == 15900
    assert lin.pay_online(orders["app"])["outcome"] == "succeeded"
    assert lin.call("GET", f"/api/v1/orders/{orders['app']['id']}").json()["paid_fen"] == 2 * 17900


def test_fulfilment_and_cancellation_events_reach_the_event_store(shop: Shop) -> None:
    lin = shop.member("13800138006", user_id="member-6")
    shipped = lin.order("web", ("SCARF-RED", 1))
    lin.pay_online(shipped)
    shop.admin("POST", f"/api/v1/orders/{shipped['id']}/fulfilment")
    out = shop.admin("POST", f"/api/v1/orders/{shipped['id']}/shipments",
                     {"carrier": "SF", "tracking_number": "SF42"}, status=201)
    events = f"/api/v1/orders/{shipped['id']}/shipments/{out['shipments'][0]['id']}/events"
    shop.admin("POST", events, {"status": "in_transit", "note": "杭州转运中心"})
    shop.admin("POST", events, {"status": "out_for_delivery"})
    shop.admin("POST", events, {"status": "delivered"})
    shop.admin("POST", events, {"status": "delivered"})  # the carrier says it twice; the order completes once
    cancelled = lin.order("miniprogram", ("SCARF-RED", 1))
    assert lin.call("POST", f"/api/v1/orders/{cancelled['id']}/cancel", {"reason": "changed_mind"}).status_code == 200
    shop.api.drain()
    rows = shop.api.sql(
        "SELECT event, channel, user_id, json_extract_string(properties, '$.order_id'), "
        "json_extract_string(properties, '$.status'), json_extract_string(properties, '$.shipment_status'), "
        "json_extract_string(properties, '$.tracking_number'), json_extract_string(properties, '$.reason') "
        "FROM events WHERE source_id = 'siyu' AND event NOT IN ('Checkout Started', 'Order Completed') "
        "ORDER BY timestamp, event")
    assert rows == [
        ["Order Updated", "web", "member-6", shipped["id"], "fulfilling", None, None, None],
        ["Order Shipped", "web", "member-6", shipped["id"], None, None, "SF42", None],
        ["Order Updated", "web", "member-6", shipped["id"], "shipped", "in_transit", "SF42", None],
        ["Order Updated", "web", "member-6", shipped["id"], "shipped", "out_for_delivery", "SF42", None],
        ["Order Received", "web", "member-6", shipped["id"], None, None, None, None],
        ["Order Cancelled", "miniprogram", "member-6", cancelled["id"], None, None, None, "changed_mind"],
    ]
