"""The profile's order counters, kept from order events on the bus (group ``profiles``), exactly once per
event (the consumer runner's inbox).

- ``orders.paid``: one more order, its total added to revenue, first/last order time;
- ``orders.refunded``: the refund added to ``refunded_fen`` (revenue stays what was paid).
Counters are kept per person id (the order's customer when it was placed); the profile adds up every person
merged into it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case
from sqlalchemy.orm import Session

from siyu.bus.base import Message
from siyu.db import upsert
from siyu.identity.models import PersonCounters
from siyu.kit.clock import parse_iso
from siyu.outbox.consumer import domain_event


class ProfileCounters:
    group = "profiles"
    patterns: tuple[str, ...] = ("orders.paid", "orders.refunded")

    def handle(self, session: Session, message: Message) -> None:
        event = domain_event(message)
        person = event.get("person_id")
        if not person:
            return
        data = event.get("data") or {}
        at = parse_iso(str(event["occurred_at"]).removesuffix("Z"))
        stmt = upsert(session, PersonCounters)
        if event["topic"] == "orders.paid":
            amount = int(data.get("total_fen", 0))
            ins = stmt.values(person_id=person, orders=1, revenue_fen=amount, refunded_fen=0, first_order_at=at,
                              last_order_at=at)
            session.execute(ins.on_conflict_do_update(index_elements=["person_id"], set_={
                "orders": PersonCounters.orders + 1,
                "revenue_fen": PersonCounters.revenue_fen + amount,
                "first_order_at": _earliest(at),
                "last_order_at": _latest(at),
            }))
        else:
            amount = int(data.get("amount_fen", 0))
            ins = stmt.values(person_id=person, orders=0, revenue_fen=0, refunded_fen=amount)
            session.execute(ins.on_conflict_do_update(index_elements=["person_id"], set_={
                "refunded_fen": PersonCounters.refunded_fen + amount}))


def _earliest(at: Any) -> Any:
    return case((PersonCounters.first_order_at.is_(None), at),
                (PersonCounters.first_order_at > at, at), else_=PersonCounters.first_order_at)


def _latest(at: Any) -> Any:
    return case((PersonCounters.last_order_at.is_(None), at),
                (PersonCounters.last_order_at < at, at), else_=PersonCounters.last_order_at)
