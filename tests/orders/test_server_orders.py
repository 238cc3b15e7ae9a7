"""Orders placed by a brand server with its secret key (role ``server``, scope ``orders:write``), naming the
customer: the whole lifecycle, and what it is refused without a customer or without the scope."""

from __future__ import annotations

from typing import Any

import pytest

from tests.orders.shop import ADDRESS, Shop, snapshot


def body(customer: dict[str, Any] | None, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"channel": "miniprogram", "lines": [{"sku_code": "SCARF-RED", "quantity": 2}],
                           "address": ADDRESS, **kw}
    if customer is not None:
        out["customer"] = customer
    return out


def test_a_brand_server_orders_for_a_named_customer_from_payment_to_return(shop: Shop) -> None:
    srv = shop.server("orders:write")
    order = srv.ok("POST", "/api/v1/orders", body({"kind": "phone", "value": "13800136000"}), 201)
    assert order["status"] == "pending_payment" and order["total_fen"] == 2 * 19900
    assert order["channel"] == "miniprogram" and order["lines"][0]["unit_price_fen"] == 19900
    assert shop.levels("SCARF-RED")[shop.warehouse] == (50, 2)
    # the order is the customer's holding that phone: when they sign in, it is in their one order list
    lin = shop.member("13800136000")
    assert order["person_id"] == lin.person_id
    assert [o["id"] for o in lin.call("GET", "/api/v1/orders").json()["items"]] == [order["id"]]

    paid = srv.ok("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "manual", "reference": "ERP-7"},
                  201)
    assert (paid["status"], paid["provider_ref"]) == ("succeeded", "ERP-7")
    assert shop.levels("SCARF-RED")[shop.warehouse] == (48, 0)
    assert srv.ok("POST", f"/api/v1/orders/{order['id']}/fulfilment")["status"] == "fulfilling"
    shipped = srv.ok("POST", f"/api/v1/orders/{order['id']}/shipments", {"carrier": "SF", "tracking_number": "SF9"},
                     201)
    shipment = shipped["shipments"][0]["id"]
    done = srv.ok("POST", f"/api/v1/orders/{order['id']}/shipments/{shipment}/events", {"status": "delivered"})
    assert done["status"] == "completed" and done["return_deadline"] is not None

    # after-sales asked for by the brand's server on the customer's behalf, from another channel
    ret = srv.ok("POST", f"/api/v1/orders/{order['id']}/returns",
                 {"channel": "app", "lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}]}, 201)
    assert (ret["person_id"], ret["channel"], ret["amount_fen"]) == (lin.person_id, "app", 19900)
    srv.ok("POST", f"/api/v1/returns/{ret['id']}/decision", {"approve": True})
    assert srv.ok("POST", f"/api/v1/returns/{ret['id']}/receive")["status"] == "refunded"
    final = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert final["refunded_fen"] == 19900 and [r["status"] for r in final["refunds"]] == ["succeeded"]
    assert shop.levels("SCARF-RED")[shop.warehouse] == (49, 0)


def test_a_brand_server_orders_for_a_person_id_with_store_pickup(shop: Shop) -> None:
    srv = shop.server("orders:write")
    lin = shop.member("13800136001")
    order = srv.ok("POST", "/api/v1/orders", body({"person_id": lin.person_id}, channel="app", address=None,
                                                  fulfilment="pickup", pickup_location_id=shop.store), 201)
    assert order["person_id"] == lin.person_id and order["fulfilment"] == "pickup"
    assert shop.levels("SCARF-RED")[shop.store] == (5, 2)
    srv.ok("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "manual"}, 201)
    code = srv.ok("POST", f"/api/v1/orders/{order['id']}/ready-for-pickup")["pickup_code"]
    assert lin.call("GET", f"/api/v1/orders/{order['id']}").json()["pickup_code"] == code
    assert srv.ok("POST", "/api/v1/stores/pickup", {"location_id": shop.store, "code": code})["status"] == "completed"
    assert shop.levels("SCARF-RED")[shop.store] == (3, 0)
    # cancelling is the brand server's too (a second order, unpaid: its reservation is released)
    second = srv.ok("POST", "/api/v1/orders", body({"person_id": lin.person_id}), 201)
    assert srv.ok("POST", f"/api/v1/orders/{second['id']}/cancel", {"reason": "erp"})["status"] == "cancelled"
    assert shop.levels("SCARF-RED")[shop.warehouse] == (50, 0)


@pytest.mark.parametrize(("customer", "status", "code"), [
    (None, 422, "customer_required"),
    ({"kind": "phone"}, 422, "validation_error"),
    ({"person_id": "p1", "kind": "phone", "value": "13800136002"}, 422, "validation_error"),
    ({"person_id": "no-such-person"}, 404, "person_not_found"),
])
def test_a_brand_server_must_name_the_customer(shop: Shop, customer: dict[str, Any] | None, status: int,
                                               code: str) -> None:
    srv = shop.server("orders:write")
    before = snapshot(shop)
    r = srv.call("POST", "/api/v1/orders", body(customer))
    assert r.status_code == status and r.json()["error"]["code"] == code, r.text
    assert snapshot(shop) == before


def test_a_key_without_orders_write_cannot_order_or_act_on_orders(shop: Shop) -> None:
    lin = shop.member("13800136003")
    order = lin.order("web", ("SCARF-RED", 1))
    for scopes in (("orders:read",), ("catalog:write", "persons:read")):
        srv = shop.server(*scopes)
        before = snapshot(shop)
        r = srv.call("POST", "/api/v1/orders", body({"person_id": lin.person_id}))
        assert r.status_code == 403 and r.json()["error"]["code"] == "scope_required", r.text
        assert r.json()["error"]["details"] == {"scope": "orders:write"}
        for path, payload in [(f"/api/v1/orders/{order['id']}/payments", {"provider": "manual"}),
                              (f"/api/v1/orders/{order['id']}/cancel", {}),
                              (f"/api/v1/orders/{order['id']}/fulfilment", None),
                              (f"/api/v1/orders/{order['id']}/returns",
                               {"lines": [{"line_id": order["lines"][0]["id"], "quantity": 1}]})]:
            r = srv.call("POST", path, payload)
            assert r.status_code == 403 and r.json()["error"]["code"] == "scope_required", (path, r.text)
        assert snapshot(shop) == before
    # orders:read reads anyone's orders, without writing
    reader = shop.server("orders:read")
    assert reader.ok("GET", f"/api/v1/orders/{order['id']}")["id"] == order["id"]
    assert [o["id"] for o in reader.ok("GET", f"/api/v1/orders?person_id={lin.person_id}")["items"]] == [order["id"]]
