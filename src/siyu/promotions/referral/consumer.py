"""What referral does with bus events (group ``promotions-referral``), exactly once per event (the runner's
inbox) and once per (referral, trigger, order, side) whatever the events (``rewards.py``):

- ``loyalty.joined``: a bound invitee joined: the ``signup`` rewards;
- ``referral.bound``: an invitee bound after joining: the ``signup`` rewards;
- ``orders.paid``: a bound invitee paid: ``first_purchase`` (the first such order) and ``every_purchase``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.bus.base import Message
from siyu.kit.clock import parse_iso
from siyu.outbox.consumer import domain_event
from siyu.promotions.referral import rewards


class ReferralRewards:
    group = "promotions-referral"
    patterns: tuple[str, ...] = ("loyalty.joined", "orders.paid", "referral.bound")

    def handle(self, session: Session, message: Message) -> None:
        event = domain_event(message)
        person = event.get("person_id")
        data = event.get("data") or {}
        at = parse_iso(str(event["occurred_at"]).removesuffix("Z"))
        event_id = str(event["id"])
        topic = event["topic"]
        if topic == "referral.bound":
            rewards.on_bound(session, str(data["referral_id"]), event_id, at)
        elif not person:
            return
        elif topic == "loyalty.joined":
            rewards.on_joined(session, str(person), event_id, at)
        elif topic == "orders.paid":
            rewards.on_paid(session, str(person), str(data["order_id"]), int(data.get("total_fen") or 0), event_id,
                            at)
