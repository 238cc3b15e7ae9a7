"""The rows of imported orders, built where the rows are parsed (the preparing process, beside the one that
writes): order and line rows in the database's own form (each value as its column's bind processor makes
it, the model's defaults appended, as the ORM would write them), and each order's ``orders.paid`` event as
the JSON text ``outbox.service.payload`` makes, around the two things only the database knows: the
customer's person and the person's event anchor. The writer puts the person into the order row and
assembles the event (:func:`event`) with a few string joins.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

import msgspec
from sqlalchemy import Table
from sqlalchemy.engine import Dialect

from siyu.identity.extract import Key
from siyu.identity.kinds import Kind
from siyu.imports.bulk import OUTBOX_COLUMNS, Shape, shape
from siyu.imports.currencies import minor_digits
from siyu.imports.rows import micros
from siyu.kit.ids import new_id
from siyu.orders.events import NAMES
from siyu.orders.models import Order, OrderLine
from siyu.outbox.models import OutboxMessage

TOPIC = "orders.paid"
EVENT = NAMES[TOPIC]  # "Order Completed"
_ORDERS = cast(Table, Order.__table__)
_LINES = cast(Table, OrderLine.__table__)
_OUTBOX = cast(Table, OutboxMessage.__table__)
# Every column an imported row has a value for (the others are NULL: no pickup, address, reservation, ...).
ORDER_COLUMNS = ("id", "person_id", "channel", "status", "fulfilment", "pickup_attempts", "currency", "subtotal_fen",
                 "discount_fen", "shipping_fen", "total_fen", "paid_fen", "refunded_fen", "note", "created_at",
                 "paid_at", "completed_at", "import_source", "external_id")
LINE_COLUMNS = ("id", "order_id", "sku_code", "title", "quantity", "unit_price_fen", "total_fen", "refunded_quantity")
PERSON = 1  # the position of person_id in an order row
_TIMES = ("created_at", "paid_at", "completed_at")
_encode = msgspec.json.Encoder().encode
_LOW62, _VARIANT = (1 << 62) - 1, 0x2 << 62
_TOPIC_JSON = _encode(TOPIC).decode()
_EVENT_JSON = _encode(EVENT).decode()


class Line(NamedTuple):
    """One good row of the file: one line of an order."""

    line: int
    external_id: str
    customer: Key
    at: datetime  # UTC
    amount: int  # the line's total, minor units
    currency: str
    quantity: int
    sku: str
    title: str
    channel: str


# What the writer needs of an order besides its rows, to resolve its customer and to skip it when imported
# before: (external id, customer, total, currency). A plain tuple: it crosses between processes by the
# thousand, and a named tuple takes several times as long to unpickle.
OrderKey = tuple[str, Key, int, str]


@dataclass
class Built:
    """The orders of a chunk, in file order, ready to write but for their persons."""

    keys: list[OrderKey] = field(default_factory=list)
    orders: list[list[Any]] = field(default_factory=list)  # order rows, person_id (PERSON) still None
    lines: list[tuple[Any, ...]] = field(default_factory=list)  # line rows, order by order
    numbers: list[int] = field(default_factory=list)  # the file line of each line row
    ends: list[int] = field(default_factory=list)  # per order, the end of its line rows in ``lines``
    events: list[tuple[str, str, str, str]] = field(default_factory=list)  # per order: event id, JSON parts


class Rows:
    """Builds :class:`Built` for one dialect and import source."""

    def __init__(self, dialect: Dialect, source: str) -> None:
        self.source = source
        self.orders: Shape = shape(dialect, _ORDERS, ORDER_COLUMNS)
        self.lines: Shape = shape(dialect, _LINES, LINE_COLUMNS)
        self.outbox: Shape = shape(dialect, _OUTBOX, OUTBOX_COLUMNS)
        plain = [c for c in (*ORDER_COLUMNS, *LINE_COLUMNS) if c not in _TIMES]
        # only the times need converting: every other value is written as Python gives it
        assert not any(c in self.orders.processors for c in plain if c in ORDER_COLUMNS)
        assert not any(c in self.lines.processors for c in plain if c in LINE_COLUMNS)
        time = self.orders.processors.get("created_at")
        # SQLite's text form of a UTC time is a slice of its ISO form, as is the event's time: one
        # isoformat() makes both (checked here against the column's own processor)
        self.sliced = time is not None and all(time(at) == _sqlite_text(at.isoformat(timespec="microseconds"))
                                               for at in (datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
                                                          datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)))
        self.time = time or _same
        self._scales: dict[str, int] = {}

    def build(self, orders: list[list[Line]]) -> Built:
        out = Built()
        keys, order_rows, line_rows, numbers, ends, events = (out.keys, out.orders, out.lines, out.numbers, out.ends,
                                                              out.events)
        source, time, scales, sliced = self.source, self.time, self._scales, self.sliced
        order_extra, line_extra = self.orders.extra, self.lines.extra
        encode = _encode
        for lines in orders:
            first = lines[0]
            at, cur, ch, ext = first.at, first.currency, first.channel, first.external_id
            ids = ids_at(at, len(lines) + 1)
            order_id = ids[0]
            total = first.amount if len(lines) == 1 else sum(ln.amount for ln in lines)
            scale = scales.get(cur)
            if scale is None:
                scale = scales[cur] = 10 ** (minor_digits(cur) or 0)
            stamp = at.isoformat(timespec="microseconds")
            when = f"{stamp[:10]} {stamp[11:26]}" if sliced else time(at)
            keys.append((ext, first.customer, total, cur))
            order_rows.append([order_id, None, ch, "completed", "delivery", 0, cur, total, 0, 0, total, total, 0, "",
                               when, when, when, source, ext, *order_extra])
            products = []
            for i, ln in enumerate(lines, 1):
                unit = ln.amount // ln.quantity
                line_rows.append((ids[i], order_id, ln.sku, ln.title, ln.quantity, unit, ln.amount, 0,
                                  *line_extra))
                numbers.append(ln.line)
                products.append({"product_id": None, "sku": ln.sku, "name": ln.title, "price": unit / scale,
                                 "quantity": ln.quantity})
            ends.append(len(line_rows))
            yuan = total / scale
            data = {"order_id": order_id, "status": "completed", "channel": ch, "amount_fen": total,
                    "total_fen": total, "currency": cur, "import_source": source, "external_id": ext}
            props = {"order_id": order_id, "total": yuan, "total_fen": total, "currency": cur, "products": products,
                     "fulfilment": "delivery", "revenue": yuan, "subtotal": yuan, "shipping": 0.0, "discount": 0.0,
                     "import_source": source}
            # payload(TOPIC, data, person_id=..., track=Track(EVENT, ch, user id, anonymous id, props), at=at)
            message = new_id()
            events.append((
                message,
                f'{{"id":"{message}","topic":{_TOPIC_JSON},"occurred_at":"{stamp[:23]}Z","person_id":',
                f',"data":{encode(data).decode()},"track":{{"event":{_EVENT_JSON},"channel":"{ch}",',
                f',"properties":{encode(props).decode()}}}}}',
            ))
        return out


def _sqlite_text(stamp: str) -> str:
    return f"{stamp[:10]} {stamp[11:26]}"


def _same(value: Any) -> Any:
    return value


def ids_at(at: datetime, n: int) -> list[str]:
    """``n`` ids as :func:`~siyu.imports.rows.id_at` makes them (one clock part, ``at``)."""
    head = f"{max(0, micros(at) // 1000):012x}7"
    bits = random.getrandbits
    return [f"{head}{(r := bits(74)) >> 62:03x}{(r & _LOW62) | _VARIANT:016x}" for _ in range(n)]


def who(person: str, anchor: Key) -> tuple[str, str]:
    """The JSON of a person id, and of the ``user_id`` and ``anonymous_id`` members its events carry."""
    kind, value = anchor
    text = _encode(value).decode()
    user, anonymous = (text, "null") if kind == Kind.user_id else ("null", text) if kind == Kind.anonymous_id \
        else ("null", "null")
    return _encode(person).decode(), f'"user_id":{user},"anonymous_id":{anonymous}'


def event(parts: tuple[str, str, str, str], person: tuple[str, str]) -> str:
    """An order's event: its JSON parts around its person's (see :func:`who`)."""
    _, head, middle, tail = parts
    return f"{head}{person[0]}{middle}{person[1]}{tail}"
