"""Bad input to the commerce API: a clear 4xx with a machine-readable code, and nothing written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from siyu.orders.providers import sign
from tests.orders.shop import ADDRESS, WEBHOOK_SECRET, Shop, snapshot


def line(code: str = "SCARF-RED", **kw: Any) -> dict[str, Any]:
    return {"sku_code": code, "quantity": 1, **kw}


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"channel": "web", "lines": [line(quantity=0)]}, 422, "validation_error"),
    ({"channel": "web", "lines": [line(quantity=-2)]}, 422, "validation_error"),
    ({"channel": "web", "lines": []}, 422, "validation_error"),
    ({"channel": "web", "lines": [line("NO-SUCH-SKU")]}, 404, "sku_not_found"),
    ({"channel": "web", "lines": [line("SCARF-APP")]}, 422, "sku_not_sold_in_channel"),
    ({"channel": "web", "lines": [line(unit_price_fen=1)]}, 422, "client_price_not_accepted"),
    ({"channel": "web", "lines": [line(price=0.01)]}, 422, "client_price_not_accepted"),
    ({"channel": "web", "lines": [line()], "total_fen": 1}, 422, "client_price_not_accepted"),
    ({"channel": "web", "lines": [line()], "fulfilment": "pickup"}, 422, "pickup_store_required"),
    ({"channel": "web", "lines": [line()], "fulfilment": "delivery"}, 422, "address_required"),
    ({"channel": "server", "lines": [line()]}, 422, "validation_error"),
    ({"channel": "web", "lines": [line(), line(quantity=999)]}, 409, "out_of_stock"),
    ({"channel": "web", "lines": [{"quantity": 1}]}, 422, "validation_error"),
    ({"channel": "web", "lines": [line(discount=5)]}, 422, "validation_error"),
])
def test_bad_orders_are_refused_and_write_nothing(shop: Shop, body: dict[str, Any], status: int,
                                                  code: str) -> None:
    lin = shop.member("13800139000")
    if body.get("fulfilment") != "delivery" and "address" not in body and code != "pickup_store_required":
        body = {**body, "address": ADDRESS}
    before = snapshot(shop)
    r = lin.call("POST", "/api/v1/orders", body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert snapshot(shop) == before


def test_not_yet_on_sale_in_the_channel(shop: Shop) -> None:
    later = (datetime.now(UTC) + timedelta(hours=4)).isoformat()
    shop.admin("PUT", f"/api/v1/catalog/skus/{shop.skus['SCARF-RED']}/listings/web",
               {"price_fen": 19900, "available_from": later})
    lin = shop.member("13800139001")
    before = snapshot(shop)
    r = lin.call("POST", "/api/v1/orders", {"channel": "web", "lines": [line()], "address": ADDRESS})
    assert r.status_code == 422 and r.json()["error"]["code"] == "sku_not_available_yet", r.text
    assert snapshot(shop) == before
    # the same SKU is on sale in the APP right now
    assert lin.call("POST", "/api/v1/orders", {"channel": "app", "lines": [line()], "address": ADDRESS}
                    ).status_code == 201


def test_forged_or_stale_webhook_signatures_are_refused(shop: Shop) -> None:
    lin = shop.member("13800139002")
    order = lin.order("web", ("SCARF-RED", 1))
    ref = lin.call("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "webhook"}).json()["provider_ref"]
    body = json.dumps({"id": "evt-forged", "type": "payment.succeeded",
                       "data": {"payment_ref": ref, "amount_fen": order["total_fen"]}}).encode()
    before = snapshot(shop)
    for headers in ({"Siyu-Signature": sign("not-the-secret", body)},
                    {"Siyu-Signature": sign(WEBHOOK_SECRET, body, at=int(datetime.now(UTC).timestamp()) - 3600)},
                    {"Siyu-Signature": "t=1,v1=deadbeef"}, {}):
        r = shop.api.client.post("/api/v1/payments/webhook", content=body, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_signature", r.text
    # a body changed after signing fails too
    signed = sign(WEBHOOK_SECRET, body)
    tampered = body.replace(str(order["total_fen"]).encode(), b"1")
    r = shop.api.client.post("/api/v1/payments/webhook", content=tampered, headers={"Siyu-Signature": signed})
    assert r.status_code == 401
    assert snapshot(shop) == before  # still pending, its payment too, and no event
    # the genuine callback still works afterwards (the forged ones did not use up its id)
    assert shop.signed(body).json()["outcome"] == "succeeded"


def test_another_members_token_cannot_touch_an_order(shop: Shop) -> None:
    lin, mallory = shop.member("13800139003"), shop.member("13800139004")
    order = lin.order("miniprogram", ("SCARF-RED", 1))
    before = snapshot(shop)
    for method, path, body in [
        ("GET", f"/api/v1/orders/{order['id']}", None),
        ("POST", f"/api/v1/orders/{order['id']}/cancel", {}),
        ("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "webhook"}),
        ("POST", f"/api/v1/orders/{order['id']}/returns", {"lines": [{"line_id": order["lines"][0]["id"],
                                                                      "quantity": 1}]}),
        ("GET", f"/api/v1/orders/{order['id']}/returns", None),
        ("POST", f"/api/v1/orders/{order['id']}/receipt", None),
    ]:
        r = mallory.call(method, path, body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_your_order", (path, r.text)
    assert mallory.call("GET", "/api/v1/orders").json()["items"] == []
    # operator-only actions are refused to members outright
    for path, body in [(f"/api/v1/orders/{order['id']}/payments", {"provider": "manual"}),
                       (f"/api/v1/orders/{order['id']}/fulfilment", None),
                       (f"/api/v1/orders/{order['id']}/refunds", {"amount_fen": 1})]:
        r = lin.call("POST", path, body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "scope_required", (path, r.text)
    r = lin.call("POST", "/api/v1/orders", {"channel": "web", "lines": [line()], "address": ADDRESS,
                                            "customer": {"person_id": mallory.person_id}})
    assert r.status_code == 403
    assert snapshot(shop) == before


def test_refunds_cannot_exceed_what_was_paid(shop: Shop) -> None:
    lin = shop.member("13800139005")
    order = lin.order("web", ("SCARF-RED", 2))
    shop.admin("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "manual"}, status=201)
    before = snapshot(shop)
    r = shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds", {"amount_fen": 39801}, status=409)
    assert r["error"]["code"] == "refund_exceeds_paid"
    assert snapshot(shop) == before
    shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds", {"amount_fen": 39000}, status=201)
    before = snapshot(shop)
    r = shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds", {"amount_fen": 801}, status=409)
    assert r["error"]["code"] == "refund_exceeds_paid"
    lines = [{"line_id": order["lines"][0]["id"], "quantity": 3}]
    r = shop.admin("POST", f"/api/v1/orders/{order['id']}/refunds", {"lines": lines}, status=409)
    assert shop.admin("GET", f"/api/v1/orders/{order['id']}")["refunded_fen"] == 39000
    assert snapshot(shop) == before


def test_idempotency_key_replays_and_refuses_reuse(shop: Shop) -> None:
    lin = shop.member("13800139006")
    body = {"channel": "app", "lines": [line()], "address": ADDRESS}
    headers = {"Authorization": f"Bearer {lin.token}", "Idempotency-Key": "checkout-1"}
    first = shop.api.client.post("/api/v1/orders", json=body, headers=headers)
    again = shop.api.client.post("/api/v1/orders", json=body, headers=headers)
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    assert shop.levels("SCARF-RED")[shop.warehouse] == (50, 1)  # reserved once
    other = shop.api.client.post("/api/v1/orders", json={**body, "channel": "web"}, headers=headers)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    # keys are per customer: another member's identical key is their own
    mallory = shop.member("13800139007")
    mine = shop.api.client.post("/api/v1/orders", json=body,
                                headers={"Authorization": f"Bearer {mallory.token}", "Idempotency-Key": "checkout-1"})
    assert mine.status_code == 201 and mine.json()["id"] != first.json()["id"]


def test_malformed_webhook_bodies_are_4xx(shop: Shop) -> None:
    lin = shop.member("13800139008")
    order = lin.order("web", ("SCARF-RED", 1))
    ref = lin.call("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "webhook"}).json()["provider_ref"]
    before = snapshot(shop)
    for body in (b'{"id": "e1", "type": "refund.succeeded", "data": {}}',
                 b'{"id": "e2", "type": "payment.succeeded", "data": {"amount_fen": 1}}',
                 b'{"id": "e3", "type": "nonsense", "data": {}}', b"not json", b'{"id": 5}',
                 # a provider's own refund needs its refund id (what makes a re-sent one a duplicate)
                 b'{"id": "e4", "type": "payment.refunded", "data": {"payment_ref": "%s", "amount_fen": 1}}'
                 % ref.encode(),
                 b'{"id": "e5", "type": "payment.refunded", "data": {"payment_ref": "%s", "refund_ref": "r",'
                 b' "amount_fen": 0}}' % ref.encode(),
                 b'{"id": "e6", "type": "payment.refunded", "data": {"payment_ref": "nope", "refund_ref": "r",'
                 b' "amount_fen": 1}}',
                 # the provider refunded a payment Siyu has not seen succeed
                 b'{"id": "e7", "type": "payment.refunded", "data": {"payment_ref": "%s", "refund_ref": "r",'
                 b' "amount_fen": 1}}' % ref.encode()):
        r = shop.signed(body)
        assert 400 <= r.status_code < 500, (body, r.text)
        assert r.json()["error"]["code"]
    assert snapshot(shop) == before
