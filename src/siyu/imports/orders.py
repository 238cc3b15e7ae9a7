"""Importing historical orders: each row is one order line; rows sharing an order id are one order (their
rows must be next to each other in the file). An imported order is a completed purchase: paid in full at
its order time, ``import_source`` the run's source and ``external_id`` the order id (or, without an order id
column, a hash of the row's customer, time, amount, currency, SKU and quantity), so importing again adds
nothing. Each order emits ``orders.paid`` ("Order Completed" at its order time, under the person's event
anchor) through the outbox (payloads from ``outbox.service.payload``, written in bulk), so the event
store and the profile counters see the history.

A bad row is reported and skipped with every other row of its order; the rest of the chunk is imported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from siyu.identity.extract import Key, Observation
from siyu.identity.kinds import KINDS, Kind
from siyu.imports import values as v
from siyu.imports.bulk import insert_rows, outbox_rows
from siyu.imports.checkpoint import BadRow
from siyu.imports.csvsource import Record
from siyu.imports.currencies import minor_digits
from siyu.imports.mapping import ORDER_COLUMNS as MAPPED
from siyu.imports.mapping import OrderOptions, bind
from siyu.imports.people import People
from siyu.imports.rows import ChunkResult, id_at, micros
from siyu.orders.events import NAMES
from siyu.orders.models import Order, OrderLine
from siyu.outbox.service import Track, payload

TOPIC = "orders.paid"
EVENT = NAMES[TOPIC]  # "Order Completed"
USER, ANONYMOUS = Kind.user_id.value, Kind.anonymous_id.value
_ORDERS = cast(Table, Order.__table__)
_LINES = cast(Table, OrderLine.__table__)
# Every column an imported row has a value for (the others are NULL: no pickup, address, reservation, ...).
ORDER_COLUMNS = ("id", "person_id", "channel", "status", "fulfilment", "pickup_attempts", "currency", "subtotal_fen",
                 "discount_fen", "shipping_fen", "total_fen", "paid_fen", "refunded_fen", "note", "created_at",
                 "paid_at", "completed_at", "import_source", "external_id")
LINE_COLUMNS = ("id", "order_id", "sku_code", "title", "quantity", "unit_price_fen", "total_fen", "refunded_quantity")


class Line(NamedTuple):
    line: int
    external_id: str
    customer: Key
    at: datetime
    amount: int  # the line's total, minor units
    currency: str
    quantity: int
    sku: str
    title: str
    channel: str


class Prepared(NamedTuple):
    orders: list[list[Line]]  # whole orders, each its lines
    result: ChunkResult  # the bad rows and skipped duplicates found so far


class OrderImport:
    kind = "orders"

    def __init__(self, options: OrderOptions) -> None:
        self.options = options
        self.source = options.source
        self.people = People()
        self.ids = v.Identifiers(options.app_id)
        self.times = v.Times(options.date_formats, v.zone(options.timezone))
        self.col: dict[str, int] = {}
        self.width = 0
        self.has_order_id = False
        self._pick: Callable[[list[str]], Any] = itemgetter(0)
        self.run_id = ""

    def bind(self, header: list[str]) -> None:
        self.col = bind(header, self.options.columns)
        self.width = len(header)
        self.has_order_id = "order_id" in self.col
        # the cells of a row in ORDER_COLUMNS order, in one call; an unmapped one reads the "" after the row
        self._pick = itemgetter(*(self.col.get(name, self.width) for name in MAPPED))

    def fingerprint(self) -> dict[str, Any]:
        return self.options.fingerprint()

    def group(self) -> Callable[[list[str]], str] | None:
        i = self.col.get("order_id")
        if i is None:
            return None
        return lambda f: f[i].strip() if i < len(f) else ""

    def committed(self) -> None:
        self.people.committed()

    # -- one row --------------------------------------------------------------------------------------------
    def parse(self, rec: Record) -> Line:
        start, _, f = rec
        if len(f) != self.width:
            raise v.RowError("wrong_field_count", f"the row has {len(f)} fields; the header has {self.width}")
        f.append("")  # what an unmapped column reads
        customer, kind_raw, id_raw, time_raw, amount_raw, qty_raw, cur_raw, sku_raw, title_raw, ch_raw = self._pick(f)
        o = self.options
        kind = o.customer_kind
        if kind_raw.strip():
            kind = kind_raw.strip().lower()
            if kind not in KINDS:
                raise v.RowError("bad_identifier", f"unknown identifier kind {kind_raw.strip()!r}")
        if kind is None:
            raise v.RowError("missing_value", "customer identifier kind is empty")
        key = self.ids.key(kind, customer, f"customer {kind}")
        at = self.times.parse(time_raw, "order time")
        cur = v.currency(cur_raw) if cur_raw and cur_raw.strip() else o.currency
        amount = v.amount(amount_raw, cur, o.amount_unit)
        qty = v.quantity(qty_raw) if qty_raw else 1
        sku = sku_raw.strip()[:100]
        title = title_raw.strip()[:400] or sku
        ch = v.channel(ch_raw, o.channel) if ch_raw else o.channel
        if self.has_order_id:
            ext = v.required(id_raw, "order id")
            if len(ext) > 128:
                raise v.RowError("bad_order_id", "order id is longer than 128 characters")
        else:
            content = "\x1f".join((key[0], key[1], at.isoformat(), str(amount), cur, sku, str(qty)))
            ext = "h:" + hashlib.blake2b(content.encode(), digest_size=20).hexdigest()
        return Line(start, ext, key, at, amount, cur, qty, sku, title, ch)

    # -- one chunk: its rows checked (no database), then written in one transaction owned by the runner ----
    def prepare(self, chunk: list[Record]) -> Prepared:
        out = ChunkResult()
        groups: dict[str, list[Line]] = {}
        tainted: dict[str, int] = {}
        group = self.group()
        for rec in chunk:
            try:
                ln = self.parse(rec)
            except v.RowError as err:
                out.bad.append(BadRow(rec[0], err.code, err.reason))
                oid = group(rec[2]) if group is not None else ""
                if oid:
                    tainted.setdefault(oid, rec[0])
                continue
            groups.setdefault(ln.external_id, []).append(ln)
        return Prepared(self._whole(groups, tainted, out, derived=group is None), out)

    def write(self, session: Session, prepared: Prepared) -> ChunkResult:
        out = prepared.result
        orders = self._new(session, prepared.orders, out) if prepared.orders else []
        if orders:
            self._write(session, orders)
            out.imported += sum(len(lines) for lines in orders)
        return out

    def _whole(self, groups: dict[str, list[Line]], tainted: dict[str, int], out: ChunkResult,
               derived: bool) -> list[list[Line]]:
        """The orders whose every row is good and agrees with the first on customer, time, currency, channel."""
        orders = []
        for ext, lines in groups.items():
            if derived:  # identical rows without an order id are one order
                out.skipped += len(lines) - 1
                orders.append(lines[:1])
                continue
            first = lines[0]
            reason = None
            if ext in tainted:
                reason = f"order {ext!r} has a bad row on line {tainted[ext]}; none of its rows were imported"
            else:
                for ln in lines[1:]:
                    pairs = (("customer", ln.customer, first.customer), ("time", ln.at, first.at),
                             ("currency", ln.currency, first.currency), ("channel", ln.channel, first.channel))
                    differs = [name for name, a, b in pairs if a != b]
                    if differs:
                        reason = (f"the rows of order {ext!r} disagree on {' and '.join(differs)} (line {ln.line} "
                                  f"vs line {first.line}); none of its rows were imported")
                        break
            if reason is None:
                orders.append(lines)
            else:
                out.bad.extend(BadRow(ln.line, "order_rejected", reason) for ln in lines)
        return orders

    def _new(self, session: Session, orders: list[list[Line]], out: ChunkResult) -> list[list[Line]]:
        """Drop the orders imported before (same source and order id, same total: skipped); one imported before
        with another total is reported (the export changed, or an order's rows were not together)."""
        existing: dict[str, tuple[int, str]] = {}
        keys = [lines[0].external_id for lines in orders]
        for i in range(0, len(keys), 2000):
            rows = session.execute(select(Order.external_id, Order.total_fen, Order.currency).where(
                Order.import_source == self.source, Order.external_id.in_(keys[i:i + 2000])))
            existing.update({str(r[0]): (int(r[1]), r[2]) for r in rows})
        if not existing:
            return orders
        fresh = []
        for lines in orders:
            before = existing.get(lines[0].external_id)
            if before is None:
                fresh.append(lines)
                continue
            now = (sum(ln.amount for ln in lines), lines[0].currency)
            if before == now:
                out.skipped += len(lines)
            else:
                reason = (f"order {lines[0].external_id!r} was imported before with total {before[0]} {before[1]} "
                          f"(minor units), not {now[0]} {now[1]}; an order's rows must be next to each other")
                out.bad.extend(BadRow(ln.line, "order_conflict", reason) for ln in lines)
        return fresh

    def observation(self, ln: Line) -> Observation:
        """A customer to resolve, without an anchor: the import records no channel presence itself (the
        identity worker records it from the orders' events, at their times, under the person's event anchor)."""
        return Observation(message_id=f"import:{self.source}:{ln.external_id}", channel=ln.channel,
                           at_us=micros(ln.at), ids=[ln.customer], trigger="import", anchor=None)

    def _write(self, session: Session, orders: list[list[Line]]) -> None:
        batch = self.people.begin(session)
        firsts = {lines[0].customer: lines[0] for lines in reversed(orders)}
        persons = self.people.customers(batch, firsts, self.observation)
        anchors = self.people.event_anchors(session, batch, {p: k for k, p in persons.items()})
        self.people.finish(batch)
        order_rows: list[tuple[Any, ...]] = []
        line_rows: list[tuple[Any, ...]] = []
        events: list[dict[str, Any]] = []
        source = self.source
        scales: dict[str, int] = {}
        for lines in orders:
            first = lines[0]
            at, cur, ch, ext = first.at, first.currency, first.channel, first.external_id
            person = persons[first.customer]
            order_id = id_at(at)
            total = first.amount if len(lines) == 1 else sum(ln.amount for ln in lines)
            scale = scales.get(cur)
            if scale is None:
                scale = scales[cur] = 10 ** (minor_digits(cur) or 0)
            order_rows.append((order_id, person, ch, "completed", "delivery", 0, cur, total, 0, 0, total, total, 0,
                               "", at, at, at, source, ext))
            products = []
            for ln in lines:
                unit = ln.amount // ln.quantity
                line_rows.append((id_at(at), order_id, ln.sku, ln.title, ln.quantity, unit, ln.amount, 0))
                products.append({"product_id": None, "sku": ln.sku, "name": ln.title, "price": unit / scale,
                                 "quantity": ln.quantity})
            kind, value = anchors[person]
            yuan = total / scale
            data = {"order_id": order_id, "status": "completed", "channel": ch, "amount_fen": total,
                    "total_fen": total, "currency": cur, "import_source": source, "external_id": ext}
            props = {"order_id": order_id, "total": yuan, "total_fen": total, "currency": cur, "products": products,
                     "fulfilment": "delivery", "revenue": yuan, "subtotal": yuan, "shipping": 0.0, "discount": 0.0,
                     "import_source": source}
            track = Track(EVENT, ch, value if kind == USER else None, value if kind == ANONYMOUS else None, props)
            events.append(payload(TOPIC, data, person_id=person, track=track, at=at))
        insert_rows(session, _ORDERS, ORDER_COLUMNS, order_rows)
        insert_rows(session, _LINES, LINE_COLUMNS, line_rows)
        outbox_rows(session, events)
