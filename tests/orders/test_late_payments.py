"""A payment the provider reports succeeded after it reported it failed (the provider retried, or the
money settled late): the money arrived, so it is applied if the order can still take it, and otherwise
refused and refunded through the provider, exactly as a payment that arrives after the reservation was
released. Each callback id is handled once; re-sent under new ids it changes nothing either."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from siyu.orders.tasks import OrderSweeper
from tests.orders.shop import Member, Shop


def open_webhook(m: Member, order: dict[str, Any]) -> str:
    r = m.call("POST", f"/api/v1/orders/{order['id']}/payments", {"provider": "webhook"})
    assert r.status_code == 201, r.text
    return str(r.json()["provider_ref"])


def send(shop: Shop, event_id: str, type_: str, **data: Any) -> str:
    r = shop.signed(json.dumps({"id": event_id, "type": type_, "data": data}).encode())
    assert r.status_code == 200, r.text
    return str(r.json()["outcome"])


def failed_then_succeeded(shop: Shop, ref: str, amount: int, times: int = 3) -> list[str]:
    """The provider says the payment failed, then that it succeeded: once, again under the same id, and
    re-sent under new ids."""
    assert send(shop, f"evt-fail-{ref}", "payment.failed", payment_ref=ref) == "failed"
    outcomes = [send(shop, f"evt-ok-{ref}", "payment.succeeded", payment_ref=ref, amount_fen=amount)]
    outcomes.append(send(shop, f"evt-ok-{ref}", "payment.succeeded", payment_ref=ref, amount_fen=amount))
    outcomes += [send(shop, f"evt-ok-{ref}-{i}", "payment.succeeded", payment_ref=ref, amount_fen=amount)
                 for i in range(times)]
    # a failure reported again afterwards changes nothing
    outcomes.append(send(shop, f"evt-fail-again-{ref}", "payment.failed", payment_ref=ref))
    return outcomes


def test_a_success_after_a_failure_pays_the_order_that_still_waits(shop: Shop) -> None:
    lin = shop.member("13800137000")
    order = lin.order("app", ("SCARF-RED", 2))
    ref = open_webhook(lin, order)
    outcomes = failed_then_succeeded(shop, ref, order["total_fen"])
    assert outcomes == ["succeeded", "duplicate", "succeeded", "succeeded", "succeeded", "succeeded"]
    seen = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert (seen["status"], seen["paid_fen"], seen["refunds"]) == ("paid", order["total_fen"], [])
    assert [p["status"] for p in seen["payments"]] == ["succeeded"]
    assert shop.levels("SCARF-RED")[shop.warehouse] == (48, 0)  # deducted once


def test_a_success_after_a_failure_is_refunded_once_the_order_was_paid_otherwise(shop: Shop) -> None:
    lin = shop.member("13800137001")
    order = lin.order("web", ("SCARF-RED", 1))
    first = open_webhook(lin, order)
    assert send(shop, "evt-first-failed", "payment.failed", payment_ref=first) == "failed"
    lin.pay_online(order)  # the customer paid again, and that went through
    outcomes = failed_then_succeeded(shop, first, order["total_fen"])
    assert outcomes == ["refused", "duplicate", "refused", "refused", "refused", "refused"]
    seen = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert (seen["status"], seen["paid_fen"], seen["refunded_fen"]) == ("paid", 19900, 0)
    assert [p["status"] for p in seen["payments"]] == ["refused", "succeeded"]
    assert seen["payments"][0]["provider_ref"] == first
    refused = seen["payments"][0]["id"]
    assert [(r["payment_id"], r["amount_fen"], r["reason"], r["status"]) for r in seen["refunds"]] == [
        (refused, 19900, "order_paid", "pending")]  # asked of the provider once
    assert shop.levels("SCARF-RED")[shop.warehouse] == (49, 0)  # one scarf sold, once
    assert send(shop, "evt-refund-done", "refund.succeeded", refund_id=seen["refunds"][0]["id"]) == "succeeded"
    seen = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert (seen["status"], seen["paid_fen"], seen["refunded_fen"]) == ("paid", 19900, 0)


def test_a_success_after_a_failure_is_refunded_once_the_reservation_was_released(shop: Shop) -> None:
    lin = shop.member("13800137002")
    order = lin.order("miniprogram", ("SCARF-RED", 3))
    ref = open_webhook(lin, order)
    assert send(shop, "evt-timeout-failed", "payment.failed", payment_ref=ref) == "failed"
    # the customer gives up; the unpaid timeout releases the stock
    expires = datetime.fromisoformat(order["reserve_expires_at"])
    assert OrderSweeper(shop.api.runtime.db, 1, clock=lambda: expires + timedelta(seconds=1)).sweep() == (1, 0)
    assert shop.levels("SCARF-RED")[shop.warehouse] == (50, 0)
    outcomes = failed_then_succeeded(shop, ref, order["total_fen"])
    assert outcomes[:2] == ["refused", "duplicate"] and set(outcomes[2:]) == {"refused"}
    seen = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert (seen["status"], seen["cancel_reason"], seen["paid_fen"]) == ("cancelled", "payment_timeout", 0)
    assert [p["status"] for p in seen["payments"]] == ["refused"]
    assert [(r["amount_fen"], r["reason"]) for r in seen["refunds"]] == [(order["total_fen"], "order_cancelled")]
    assert shop.levels("SCARF-RED")[shop.warehouse] == (50, 0)  # never sold


def test_a_late_success_of_the_wrong_amount_is_refunded(shop: Shop) -> None:
    lin = shop.member("13800137003")
    order = lin.order("web", ("SCARF-RED", 1))
    ref = open_webhook(lin, order)
    assert send(shop, "evt-amount-failed", "payment.failed", payment_ref=ref) == "failed"
    assert send(shop, "evt-amount-ok", "payment.succeeded", payment_ref=ref, amount_fen=100) == "refused"
    seen = lin.call("GET", f"/api/v1/orders/{order['id']}").json()
    assert (seen["status"], seen["paid_fen"]) == ("pending_payment", 0)
    assert [(r["amount_fen"], r["reason"]) for r in seen["refunds"]] == [(100, "amount_mismatch")]
    # the order still waits, and takes a payment of the right amount
    assert lin.pay_online(order)["outcome"] == "succeeded"
