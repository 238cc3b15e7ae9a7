"""Carrier updates are taken only for an order that was shipped: ``shipped``, or ``completed`` (a customer
may confirm receipt before the carrier's last update arrives). For any other state, a cancelled order
above all, the update is refused with ``409 order_not_shipped`` and nothing is recorded."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from siyu.orders.models import Order, Shipment
from tests.orders.shop import Shop, snapshot


def shipped(shop: Shop, phone: str) -> tuple[dict[str, Any], str]:
    """A paid delivery order with a shipment: the order and the shipment's events path."""
    m = shop.member(phone)
    order = m.order("web", ("SCARF-RED", 1))
    m.pay_online(order)
    out = shop.admin("POST", f"/api/v1/orders/{order['id']}/shipments", {"carrier": "SF", "tracking_number": "SF9"},
                     status=201)
    return order, f"/api/v1/orders/{order['id']}/shipments/{out['shipments'][0]['id']}/events"


def shipment_events(shop: Shop, order_id: str) -> list[str]:
    with shop.api.runtime.db.session() as s:
        (events,) = s.scalars(select(Shipment.events).where(Shipment.order_id == order_id)).all()
    return [e["status"] for e in events]


@pytest.mark.parametrize("status", ["cancelled", "pending_payment", "paid", "fulfilling", "ready_for_pickup"])
def test_carrier_updates_for_an_order_not_shipped_are_refused(shop: Shop, status: str) -> None:
    order, events = shipped(shop, "13800139000")
    # the order is no longer (or not) shipped: cancelled by hand in the database, say, or put back
    with shop.api.runtime.db.session() as s:
        s.execute(update(Order).where(Order.id == order["id"]).values(status=status))
    before = snapshot(shop)
    for update_to in ("in_transit", "out_for_delivery", "delivered"):
        r = shop.admin("POST", events, {"status": update_to, "note": "派送中"}, status=409)
        assert r["error"]["code"] == "order_not_shipped", r
        assert r["error"]["details"]["status"] == status and r["error"]["details"]["order_id"] == order["id"]
    assert snapshot(shop) == before  # no event, no status change (a cancelled order is not completed)
    assert shipment_events(shop, order["id"]) == ["shipped"]


def test_carrier_updates_of_a_shipped_or_completed_order_are_recorded(shop: Shop) -> None:
    order, events = shipped(shop, "13800139001")
    assert shop.admin("POST", events, {"status": "in_transit"})["status"] == "shipped"
    # the customer confirms receipt before the carrier's last updates arrive: they are still recorded
    assert shop.admin("POST", f"/api/v1/orders/{order['id']}/receipt")["status"] == "completed"
    assert shop.admin("POST", events, {"status": "out_for_delivery"})["status"] == "completed"
    assert shop.admin("POST", events, {"status": "delivered"})["status"] == "completed"
    assert shipment_events(shop, order["id"]) == ["shipped", "in_transit", "out_for_delivery", "delivered"]
