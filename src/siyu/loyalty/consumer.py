"""What loyalty does with bus events, exactly once per event (the runner's inbox, and per-source keys in
the ledgers for events that may arrive twice in different bus messages).

Orders (group ``loyalty``):
- ``orders.paid``: growth value for the money spent; points (per yuan, times the tier's multiplier) as a
  pending lot; an "order" action in the order's channel (quests); a points-plus-money redemption the order
  paid for is completed (``mall_orders.py``);
- ``orders.completed``: the order's pending points become available when the return window closes;
- ``orders.refunded``: growth value taken back for the refunded money, and the points earned on it by the
  clawback policy (``points.py``); the points that paid for the refunded units (their lines' points share,
  recorded on each refund) given back (``redemptions.give_back_share``); refunded in full, as cancelled;
- ``orders.cancelled``: points that paid for the order are given back, and a points-plus-money redemption
  it was paying for (points and stock), once however often the event comes.
Tracked events (group ``loyalty-actions``): events whose name the programme maps to an action (``Product
Shared`` -> share, ...) reward that action for the member behind them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy.orm import Session

from siyu.bus.base import Message
from siyu.collect.service import TOPIC as EVENTS_TOPIC
from siyu.identity.errors import PersonNotFound
from siyu.identity.service import person_by_identifier
from siyu.kit.clock import parse_iso
from siyu.loyalty import actions, growth, mall_orders, members, program, redemptions
from siyu.loyalty.members import local_day
from siyu.loyalty.points import cancel_source, cancelled_from, earn, earned_from, pending_lots_of
from siyu.orders import policy as order_policy
from siyu.orders import refunds as order_refunds
from siyu.orders import repository as orders
from siyu.outbox.consumer import domain_event
from siyu.outbox.relay import SOURCE_ID
from siyu.warehouse.record import decode_columns


class LoyaltyOrders:
    group = "loyalty"
    patterns: tuple[str, ...] = ("orders.paid", "orders.completed", "orders.refunded", "orders.cancelled")

    def handle(self, session: Session, message: Message) -> None:
        event = domain_event(message)
        person = event.get("person_id")
        m = members.find(session, person) if person else None
        if m is None:
            return
        data: dict[str, Any] = event["data"]
        at = parse_iso(str(event["occurred_at"]).removesuffix("Z"))
        topic = event["topic"]
        order_id = str(data["order_id"])
        prog = program.load(session)
        if topic == "orders.paid":
            mall_orders.paid(session, order_id)
            total = int(data["total_fen"])
            mult = program.ladder(session).by_code(m.tier).benefits.points_multiplier_bp
            pts = total * prog.points_per_yuan * mult // 10000 // 100
            earn(session, m.id, pts, key=f"order:{order_id}", source_kind="order", source_id=order_id, now=at,
                 expiry_days=prog.points_expiry_days, pending=True, reason="order", channel=data.get("channel"))
            growth.add(session, m.id, total * prog.growth_per_yuan // 100, kind="spend", key=f"order:{order_id}",
                       day=local_day(at, m.timezone), now=at)
            actions.perform(session, m, "order", str(data.get("channel") or "server"), order_id, at)
        elif topic == "orders.completed":
            window = order_policy.policy(session).return_window_days
            for lot in pending_lots_of(session, "order", order_id):
                lot.available_at = at + timedelta(days=window)
        elif topic == "orders.refunded":
            self._refunded(session, m.id, order_id, data, at, prog.growth_per_yuan, m.timezone)
        elif topic == "orders.cancelled":
            redemptions.reverse_for_order(session, order_id, at)

    @staticmethod
    def _refunded(session: Session, member_id: str, order_id: str, data: dict[str, Any], at: Any,
                  growth_per_yuan: int, tz: str) -> None:
        refund_id = str(data["refund_id"])
        order = orders.get(session, order_id)
        earned = earned_from(session, member_id, "order", order_id)
        if earned and order.paid_fen:
            keep = earned * max(order.paid_fen - order.refunded_fen, 0) // order.paid_fen
            due = earned - keep - cancelled_from(session, member_id, order_id)
            cancel_source(session, member_id, "order", order_id, due, key=f"refund:{refund_id}", now=at,
                          reason=f"order {order_id} refunded")
        # units refunded: what points paid of them comes back (their lines' points share, order_lines.points_fen)
        redemptions.give_back_share(session, order_id, order_refunds.points_refunded_fen(session, order_id), at)
        if order.paid_fen and order.refunded_fen >= order.paid_fen:  # all money back: the points paid come back too
            redemptions.reverse_for_order(session, order_id, at)
        amount = int(data.get("amount_fen", 0))
        growth.add(session, member_id, -(amount * growth_per_yuan // 100), kind="refund", key=f"refund:{refund_id}",
                   day=local_day(at, tz), now=at)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Column positions in a decoded events message (warehouse.record.COLUMNS).
_MID, _SRC, _CHANNEL, _TYPE, _EVENT, _ANON, _USER, _TS = 0, 1, 2, 3, 4, 5, 6, 9


class LoyaltyActions:
    group = "loyalty-actions"
    patterns: tuple[str, ...] = (EVENTS_TOPIC,)
    # Every tracked event passes here, most of them no action: each action is recorded once per source
    # event (``actions.perform``: ``quests.count`` keyed ``source:messageId``), so a redelivered batch
    # changes nothing without an inbox row per bus message.
    inbox = False

    def handle(self, session: Session, message: Message) -> None:
        self.handle_many(session, [message])

    def handle_many(self, session: Session, messages: Sequence[Message]) -> None:
        mapping = program.load(session).events  # once per batch: most tracked events are not actions
        if mapping:
            for message in messages:
                self._actions(session, message, mapping)

    @staticmethod
    def _actions(session: Session, message: Message, mapping: dict[str, str]) -> None:
        c = decode_columns(message.body)
        for i in range(len(c[_MID])):
            name = c[_EVENT][i]
            if c[_TYPE][i] != "track" or name not in mapping or c[_SRC][i] == SOURCE_ID:
                continue
            person = _person(session, c[_USER][i], c[_ANON][i])
            m = members.find(session, person) if person else None
            if m is None:
                continue
            at = EPOCH + timedelta(microseconds=cast(int, c[_TS][i]))
            actions.perform(session, m, mapping[str(name)], str(c[_CHANNEL][i]), f"{c[_SRC][i]}:{c[_MID][i]}", at)


def _person(session: Session, user_id: object, anonymous_id: object) -> str | None:
    for kind, value in (("user_id", user_id), ("anonymous_id", anonymous_id)):
        if isinstance(value, str) and value:
            try:
                return person_by_identifier(session, kind, value)
            except PersonNotFound:
                continue
    return None
