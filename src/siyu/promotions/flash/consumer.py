"""What flash sales do with order events (group ``promotions-flash``), exactly once per event (the runner's
inbox) and per reservation (its conditional status changes):

- ``orders.paid``: the order's reservation is sold (``ordered -> sold``);
- ``orders.cancelled`` (by the customer or an operator, or the unpaid timeout; a paid order cancelled
  before shipping included): its units go back to the quota (``ordered|sold -> released``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.bus.base import Message
from siyu.kit.clock import parse_iso
from siyu.outbox.consumer import domain_event
from siyu.promotions.flash import service
from siyu.promotions.flash.store import Quotas


class FlashOrders:
    group = "promotions-flash"
    patterns: tuple[str, ...] = ("orders.paid", "orders.cancelled")

    def __init__(self, quotas: Quotas) -> None:
        self.quotas = quotas

    def handle(self, session: Session, message: Message) -> None:
        event = domain_event(message)
        order_id = str(event["data"]["order_id"])
        at = parse_iso(str(event["occurred_at"]).removesuffix("Z"))
        if event["topic"] == "orders.paid":
            service.order_paid(session, order_id, self.quotas, at)
        elif event["topic"] == "orders.cancelled":
            service.order_cancelled(session, order_id, self.quotas, at)
