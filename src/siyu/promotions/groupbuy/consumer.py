"""What group-buys and bargains do with order events (one bus group, ``promotions-orders``), exactly once
per event (the runner's inbox):

- ``orders.paid``: a group-buy order's member takes a seat, or is refused and refunded (``seats.take_seat``);
  the payment time decides expiry, so a replayed or late-handled event decides the same way;
- ``orders.cancelled``: a group-buy's pending member is dropped, a seated member of a forming group gives the
  seat back (``seats.release``); a bargain the order used goes back to its initiator (``bargain.cuts.release``),
  as a cancelled order's coupon comes back.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.bus.base import Message
from siyu.kit.clock import parse_iso, utcnow
from siyu.outbox.consumer import domain_event
from siyu.promotions.bargain import cuts
from siyu.promotions.groupbuy import seats


class PromotionOrders:
    group = "promotions-orders"
    patterns: tuple[str, ...] = ("orders.paid", "orders.cancelled")

    def handle(self, session: Session, message: Message) -> None:
        event = domain_event(message)
        order_id = str(event["data"]["order_id"])
        if event["topic"] == "orders.paid":
            seats.take_seat(session, order_id, parse_iso(str(event["occurred_at"]).removesuffix("Z")), utcnow())
        elif event["topic"] == "orders.cancelled":
            seats.release(session, order_id, utcnow())
            cuts.release(session, order_id)
