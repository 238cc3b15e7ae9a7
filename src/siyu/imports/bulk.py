"""Bulk inserts for imports: ``executemany`` of plain rows whose values are already what each column's bind
processor makes of them (UTC times, JSON text), without SQLAlchemy's per-row statement machinery (which
costs several times the insert itself on a 27-column table). Values and types are what the ORM would write.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import JSON, Column, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import ScalarElementColumnDefault

OUTBOX_COLUMNS = ("id", "topic", "payload", "created_at", "published")
_encode = msgspec.json.Encoder().encode


def _processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    if isinstance(column.type, JSON) and dialect.name == "sqlite":
        return _json_text  # the same JSON text as json.dumps, several times faster
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _json_text(value: Any) -> str:
    return _encode(value).decode()


@dataclass(frozen=True)
class Shape:
    """A multi-row INSERT into some columns of a table on one dialect: its SQL (the given columns, then the
    model's scalar defaults of the columns not given, as the ORM would fill them in), those defaults ready
    to append to each row, and the bind processor of each column that has one (the caller applies them)."""

    sql: str
    columns: tuple[str, ...]
    extra: tuple[Any, ...]
    processors: dict[str, Callable[[Any], Any]]


def shape(dialect: Dialect, table: Table, columns: Sequence[str]) -> Shape:
    prep = dialect.identifier_preparer
    fill = [(c.name, c.default.arg) for c in table.columns
            if c.name not in columns and isinstance(c.default, ScalarElementColumnDefault)]
    names = (*columns, *(name for name, _ in fill))
    procs = {c: p for c in names if (p := _processor(table.c[c], dialect)) is not None}
    extra = tuple(value if value is None or name not in procs else procs[name](value) for name, value in fill)
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO {prep.format_table(table)} ({', '.join(prep.quote(c) for c in names)}) "
           f"VALUES ({', '.join(mark for _ in names)})")
    return Shape(sql, names, extra, procs)


def execute(session: Session, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """``executemany`` in the session's transaction of rows in the database's form (see :class:`Shape`)."""
    if rows:
        session.connection().exec_driver_sql(sql, rows)
