"""Importing historical orders: each row is one order line; rows sharing an order id are one order (their
rows must be next to each other in the file). An imported order is a completed purchase: paid in full at
its order time, ``import_source`` the run's source and ``external_id`` the order id (or, without an order id
column, a hash of the row's customer, time, amount, currency, SKU and quantity), so importing again adds
nothing. Each order emits ``orders.paid`` ("Order Completed" at its order time, under the person's event
anchor) through the outbox (the payload ``outbox.service.payload`` makes, as JSON text), so the event store
and the profile counters see the history. The rows are parsed, checked and built in ``prepare`` (no
database; the runner does it in a second process, a chunk ahead); ``write`` resolves the customers and
writes the chunk's orders, lines and events with one ``executemany`` each (``order_rows``).

A bad row is reported and skipped with every other row of its order; the rest of the chunk is imported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from siyu.identity.extract import Key
from siyu.identity.kinds import KINDS
from siyu.imports import values as v
from siyu.imports.bulk import execute
from siyu.imports.checkpoint import BadRow
from siyu.imports.csvsource import Record
from siyu.imports.mapping import ORDER_COLUMNS as MAPPED
from siyu.imports.mapping import OrderOptions, bind
from siyu.imports.order_rows import PERSON, TOPIC, Built, Line, Rows, who
from siyu.imports.people import People
from siyu.imports.rows import ChunkResult
from siyu.kit.clock import utcnow
from siyu.orders.models import Order


class Prepared(NamedTuple):
    orders: Built  # the whole orders of the chunk, their rows built
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
        self.rows: Rows | None = None
        self._who: dict[tuple[str, Key], tuple[str, str]] = {}

    def target(self, dialect: Dialect) -> None:
        """The database the rows are built for (before ``prepare``)."""
        self.rows = Rows(dialect, self.source)

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
        assert self.rows is not None, "target() first"
        return Prepared(self.rows.build(self._whole(groups, tainted, out, derived=group is None)), out)

    def write(self, session: Session, prepared: Prepared) -> ChunkResult:
        built, out = prepared
        if built.keys:
            fresh = self._new(session, built, out)
            if fresh is None or fresh:
                out.imported += self._write(session, built, fresh)
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

    def _new(self, session: Session, built: Built, out: ChunkResult) -> list[int] | None:
        """The orders not imported before (their indexes; None: all of them). One imported before (same source
        and order id) with the same total is skipped; one with another total is reported (the export changed,
        or an order's rows were not together)."""
        existing: dict[str, tuple[int, str]] = {}
        keys = [k[0] for k in built.keys]
        for i in range(0, len(keys), 2000):
            rows = session.execute(select(Order.external_id, Order.total_fen, Order.currency).where(
                Order.import_source == self.source, Order.external_id.in_(keys[i:i + 2000])))
            existing.update({str(r[0]): (int(r[1]), r[2]) for r in rows})
        if not existing:
            return None
        fresh = []
        for i, (ext, _, total, currency) in enumerate(built.keys):
            before = existing.get(ext)
            if before is None:
                fresh.append(i)
                continue
            numbers = built.numbers[built.ends[i - 1] if i else 0:built.ends[i]]
            if before == (total, currency):
                out.skipped += len(numbers)
            else:
                reason = (f"order {ext!r} was imported before with total {before[0]} {before[1]} "
                          f"(minor units), not {total} {currency}; an order's rows must be next to each other")
                out.bad.extend(BadRow(n, "order_conflict", reason) for n in numbers)
        return fresh

    def _write(self, session: Session, built: Built, fresh: list[int] | None) -> int:
        """Write the orders ``fresh`` (None: all) of ``built``, their lines and events; the lines written."""
        keys, order_rows, line_rows, events = built.keys, built.orders, built.lines, built.events
        if fresh is not None:  # some were imported before: only the others, and their lines
            ends = built.ends
            keys, order_rows = [keys[i] for i in fresh], [order_rows[i] for i in fresh]
            events = [events[i] for i in fresh]
            line_rows = [row for i in fresh for row in built.lines[ends[i - 1] if i else 0:ends[i]]]
        batch = self.people.begin(session)
        persons = self.people.customers(batch, dict.fromkeys(k[1] for k in keys))
        anchors = self.people.event_anchors(session, batch, {p: k for k, p in persons.items()})
        self.people.finish(batch)
        known = self._who
        if len(known) > 1_000_000:
            known.clear()
        texts: dict[Key, tuple[str, str]] = {}  # customer -> its person's JSON parts (see order_rows.who)
        for customer, p in persons.items():
            text = known.get((p, anchors[p]))
            if text is None:
                text = known[(p, anchors[p])] = who(p, anchors[p])
            texts[customer] = text
        assert self.rows is not None
        shapes = self.rows
        procs = shapes.outbox.processors
        # as outbox.service.emit_many writes them: created now, unpublished
        tail = tuple(procs[c](x) if c in procs else x for c, x in (("created_at", utcnow()), ("published", False)))
        tail += shapes.outbox.extra
        written: list[tuple[Any, ...]] = []
        messages: list[tuple[Any, ...]] = []
        for key, row, (message, head, middle, end) in zip(keys, order_rows, events, strict=True):
            row[PERSON] = persons[key[1]]
            written.append(tuple(row))
            person, anchor = texts[key[1]]
            messages.append((message, TOPIC, f"{head}{person}{middle}{anchor}{end}", *tail))  # order_rows.event
        execute(session, shapes.orders.sql, written)
        execute(session, shapes.lines.sql, line_rows)
        execute(session, shapes.outbox.sql, messages)
        return len(line_rows)
