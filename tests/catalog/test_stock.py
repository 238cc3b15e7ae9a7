"""Stock levels set by operators never go below what open orders have reserved."""

from __future__ import annotations

from tests.orders.shop import ADDRESS, Shop


def test_set_stock_refuses_a_level_below_what_is_reserved(shop: Shop) -> None:
    lin = shop.member("13800131001")
    order = lin.order("web", ("SCARF-RED", 3))
    assert shop.levels("SCARF-RED")[shop.warehouse] == (50, 3)
    path = f"/api/v1/catalog/stock/{shop.skus['SCARF-RED']}/{shop.warehouse}"
    for on_hand in (0, 2):
        r = shop.admin("PUT", path, {"on_hand": on_hand}, status=409)
        assert r["error"]["code"] == "stock_below_reserved" and r["error"]["details"] == {"reserved": 3}
    assert shop.levels("SCARF-RED")[shop.warehouse] == (50, 3)
    assert shop.admin("PUT", path, {"on_hand": 3})["available"] == 0  # exactly what is reserved: fine
    r = shop.admin("POST", f"{path}/adjust", {"delta": -1, "reason": "damaged"}, status=409)
    assert r["error"]["code"] == "stock_below_reserved"
    assert shop.levels("SCARF-RED")[shop.warehouse] == (3, 3)
    # nothing is left to sell from the warehouse, and the reserved units are still the order's
    r = lin.call("POST", "/api/v1/orders", {"channel": "web", "lines": [{"sku_code": "SCARF-RED", "quantity": 1}],
                                            "address": ADDRESS})
    assert r.status_code == 409 and r.json()["error"]["code"] == "out_of_stock", r.text
    assert lin.pay_online(order)["outcome"] == "succeeded"
    assert shop.levels("SCARF-RED")[shop.warehouse] == (0, 0)
    assert shop.admin("PUT", path, {"on_hand": 0})["on_hand"] == 0


def test_set_stock_needs_a_known_sku_and_location(shop: Shop) -> None:
    r = shop.admin("PUT", f"/api/v1/catalog/stock/{shop.skus['SCARF-RED']}/nowhere", {"on_hand": 1}, status=404)
    assert r["error"]["code"] == "location_not_found"
    r = shop.admin("PUT", f"/api/v1/catalog/stock/nothing/{shop.warehouse}", {"on_hand": 1}, status=404)
    assert r["error"]["code"] == "sku_not_found"
    r = shop.admin("PUT", f"/api/v1/catalog/stock/{shop.skus['SCARF-RED']}/{shop.warehouse}", {"on_hand": -1},
                   status=422)
    assert r["error"]["code"] == "validation_error"
