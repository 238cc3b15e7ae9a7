"""The event store interface, and what every implementation shares (arrow batches, read-only SQL)."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from siyu.errors import SiyuError, Unavailable
from siyu.warehouse.record import COLUMNS


class QueryRejected(SiyuError):
    code = "query_not_read_only"
    status = 400
    message = "Only one read-only statement (SELECT or WITH ... SELECT) is allowed."


class QueryFailed(SiyuError):
    code = "query_failed"
    status = 400
    message = "The query failed."


class QueryTimeout(SiyuError):
    code = "query_timeout"
    status = 408
    message = "The query ran too long and was stopped."


class WarehouseUnavailable(Unavailable):
    code = "warehouse_unavailable"
    message = "The event store is unavailable."


@dataclass(frozen=True)
class WriteResult:
    inserted: int
    duplicates: int


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


_ARROW_TYPES = {
    "str": pa.string(),
    "str?": pa.string(),
    "json": pa.string(),
    "ts": pa.timestamp("us"),
    "ts?": pa.timestamp("us"),
}
ARROW_SCHEMA = pa.schema([pa.field(name, _ARROW_TYPES[kind], nullable=kind not in ("str", "ts"))
                          for name, kind in COLUMNS])


def rows_to_arrow(rows: Sequence[tuple[object, ...]]) -> pa.Table:
    """Column-wise arrow table from record tuples (see ``record.decode_rows``)."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in COLUMNS]
    arrays = []
    for col, field in zip(columns, ARROW_SCHEMA, strict=True):
        # JSON columns arrive as UTF-8 bytes (checked at the API); arrow takes them as strings directly
        arrays.append(pa.array(col, type=field.type))
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)


def dedup_in_batch(rows: Sequence[tuple[object, ...]]) -> tuple[list[tuple[object, ...]], int]:
    """Keep the first row per (source_id, message_id); also returns how many were dropped."""
    seen: set[tuple[object, object]] = set()
    out = []
    for r in rows:
        key = (r[1], r[0])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out, len(rows) - len(out)


_LEADING = re.compile(r"^\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*", re.S)


def single_select(sql: str) -> str:
    """The statement without trailing semicolons, if it is one SELECT/WITH statement; else QueryRejected.

    Engines check again (DuckDB parses the statement, ClickHouse runs it with ``readonly=1``); this
    first check gives both the same, clear answer.
    """
    body = sql.strip().rstrip(";").strip()
    head = _LEADING.sub("", body)[:10].lower()
    if not body or not (head.startswith("select") or head.startswith("with") or head.startswith("(")):
        raise QueryRejected()
    return body


def to_json_value(v: Any) -> Any:
    if isinstance(v, datetime):
        if v.tzinfo is not None:
            v = v.astimezone(UTC).replace(tzinfo=None)
        return v.isoformat(timespec="microseconds") + "Z"
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, list | tuple):
        return [to_json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): to_json_value(x) for k, x in v.items()}
    return v


def arrow_to_result(table: pa.Table, max_rows: int) -> QueryResult:
    truncated = table.num_rows > max_rows
    if truncated:
        table = table.slice(0, max_rows)
    cols = table.column_names
    data = [table.column(i).to_pylist() for i in range(table.num_columns)]
    rows = [[to_json_value(col[i]) for col in data] for i in range(table.num_rows)]
    return QueryResult(columns=cols, rows=rows, truncated=truncated)


class Warehouse(ABC):
    name: str

    @abstractmethod
    def migrate(self) -> None:
        """Create or upgrade the tables."""

    @abstractmethod
    def write_rows(self, rows: Sequence[tuple[object, ...]]) -> WriteResult:
        """Insert event rows, each (source_id, message_id) at most once ever within the dedup window,
        atomically: either the whole batch is stored (minus duplicates) or nothing is."""

    @abstractmethod
    def query(self, sql: str, max_rows: int, timeout_s: float) -> QueryResult:
        """Run one read-only statement (the ``POST /api/v1/query`` contract)."""

    @abstractmethod
    def prune_dedup(self, older_than: datetime) -> int:
        """Forget deduplication keys received before ``older_than``; returns how many."""

    @abstractmethod
    def ping(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...
