"""Bulk inserts for imports: ``executemany`` of plain tuples with each column's own bind processor (UTC
times, JSON) applied to each value, without SQLAlchemy's per-row statement machinery (which costs several
times the insert itself on a 27-column table). Values and types are what the ORM would write (JSON on
SQLite is encoded by msgspec: the same JSON, without the spaces).

:func:`outbox_rows` writes domain events as ``outbox.service.emit_many`` does (ready payloads from
``outbox.service.payload``, unpublished), through the same fast path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import msgspec
from sqlalchemy import JSON, Column, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from siyu.kit.clock import utcnow
from siyu.outbox.models import OutboxMessage

_OUTBOX = cast(Table, OutboxMessage.__table__)
OUTBOX_COLUMNS = ("id", "topic", "payload", "created_at", "published")
_encode = msgspec.json.Encoder().encode


def _processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    if isinstance(column.type, JSON) and dialect.name == "sqlite":
        return _json_text  # the same JSON text as json.dumps, several times faster
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _processed(raw: tuple[Any, ...], proc: Callable[[Any], Any]) -> list[Any] | tuple[Any, ...]:
    """One column's values through its processor: a column of one value (a time shared by every row, a flag)
    costs one call."""
    first = raw[0]
    if raw.count(first) == len(raw):
        return (None if first is None else proc(first),) * len(raw)
    return [None if v is None else proc(v) for v in raw]


def _json_text(value: Any) -> str:
    return _encode(value).decode()


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """INSERT ``rows`` (tuples in the order of ``columns``) into ``table`` in the session's transaction. A
    column not given takes the model's scalar default, else the database's default or NULL."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    prep = dialect.identifier_preparer
    # the model's scalar defaults of the columns not given (as the ORM would fill them in)
    fill = [(c.name, c.default.arg) for c in table.columns
            if c.name not in columns and isinstance(c.default, ScalarElementColumnDefault)]
    if fill:
        columns = [*columns, *(name for name, _ in fill)]
        extra = tuple(value for _, value in fill)
        rows = [row + extra for row in rows]
    procs = [(i, p) for i, p in enumerate(_processor(table.c[c], dialect) for c in columns) if p is not None]
    if procs:
        cols: list[Any] = list(zip(*rows, strict=True))
        done: list[tuple[type[Any], tuple[Any, ...], Any]] = []
        for i, p in procs:
            kind, raw = type(table.c[columns[i]].type), cols[i]
            # a column equal to one already processed (an order's created, paid and completed times)
            cols[i] = next((out for k, r, out in done if k is kind and r == raw), None) or _processed(raw, p)
            done.append((kind, raw, cols[i]))
        rows = list(zip(*cols, strict=True))
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO {prep.format_table(table)} ({', '.join(prep.quote(c) for c in columns)}) "
           f"VALUES ({', '.join(mark for _ in columns)})")
    session.connection().exec_driver_sql(sql, rows)


def outbox_rows(session: Session, payloads: list[dict[str, Any]]) -> None:
    now = utcnow()
    insert_rows(session, _OUTBOX, OUTBOX_COLUMNS, [(p["id"], p["topic"], p, now, False) for p in payloads])
