"""The event store interface, and what every implementation shares (arrow batches, read-only SQL)."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
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
class Staged:
    columns: list[list[object]]
    table: pa.Table | None
    rows: int
    dropped: int
    anchors: pa.Table | None = None  # ANCHORS_SCHEMA: events mapped to persons through another identifier


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


Columns = list[list[object]]
Link = tuple[str, str, str, int]
LINKS_SCHEMA = pa.schema([pa.field("kind", pa.string(), nullable=False), pa.field("value", pa.string(), nullable=False),
                          pa.field("person_id", pa.string(), nullable=False),
                          pa.field("seq", pa.int64(), nullable=False)])


# An event whose own user_id and anonymous_id are no identifiers, and the identifier (kind, value) through
# which the ``events`` view finds its person instead: (source_id, message_id, kind, value).
Anchor = tuple[str, str, str, str]
AnchorFinder = Callable[[list[list[object]]], Sequence[Anchor]]
ANCHORS_SCHEMA = pa.schema([pa.field(name, pa.string(), nullable=False)
                            for name in ("source_id", "message_id", "kind", "value")])


def anchors_to_arrow(anchors: Sequence[Anchor]) -> pa.Table:
    return pa.Table.from_arrays([pa.array([a[i] for a in anchors], type=pa.string()) for i in range(4)],
                                schema=ANCHORS_SCHEMA)


def links_to_arrow(links: Sequence[Link]) -> pa.Table:
    """The newest link per identifier, as an arrow table."""
    newest: dict[tuple[str, str], Link] = {}
    for link in links:
        old = newest.get((link[0], link[1]))
        if old is None or old[3] <= link[3]:
            newest[(link[0], link[1])] = link
    rows = list(newest.values())
    return pa.Table.from_arrays([pa.array([r[i] for r in rows], type=f.type) for i, f in enumerate(LINKS_SCHEMA)],
                                schema=LINKS_SCHEMA)


def transpose(rows: Sequence[tuple[object, ...]]) -> Columns:
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in COLUMNS]


def columns_to_arrow(columns: Columns) -> pa.Table:
    """An arrow table from event columns (``record.COLUMNS`` order). JSON columns may hold UTF-8 bytes
    (checked at the API); arrow takes them as strings directly."""
    arrays = [pa.array(col, type=field.type) for col, field in zip(columns, ARROW_SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)


def rows_to_arrow(rows: Sequence[tuple[object, ...]]) -> pa.Table:
    return columns_to_arrow(transpose(rows))


def take(columns: Columns, indices: Sequence[int]) -> Columns:
    return [[col[i] for i in indices] for col in columns]


def dedup_in_batch(columns: Columns) -> tuple[Columns, int]:
    """Keep the first row per (source_id, message_id); also returns how many were dropped."""
    keys = list(zip(columns[1], columns[0], strict=True))
    if len(set(keys)) == len(keys):
        return columns, 0
    seen: set[tuple[object, object]] = set()
    keep = []
    for i, key in enumerate(keys):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return take(columns, keep), len(keys) - len(keep)


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
    dialect: str  # "duckdb" or "clickhouse": how literals are written (see sql_str / sql_ts)

    def sql_str(self, value: str) -> str:
        """``value`` as a string literal of this store's SQL (for the few queries Siyu writes itself)."""
        if "\x00" in value:
            raise ValueError("NUL in a literal")
        if self.dialect == "clickhouse":
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return "'" + value.replace("'", "''") + "'"

    def sql_ts(self, value: datetime) -> str:
        text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        if self.dialect == "clickhouse":
            return f"toDateTime64('{text}', 6, 'UTC')"
        return f"TIMESTAMP '{text}'"

    @abstractmethod
    def migrate(self) -> None:
        """Create or upgrade the tables."""

    def stage(self, columns: Columns, find_anchors: AnchorFinder | None = None) -> Staged:
        """Prepare events given column by column (``record.COLUMNS`` order) for :meth:`commit`: drop
        in-batch duplicates and build the arrow table. Pure CPU, no lock: a worker stages its next batch
        while the previous one commits. ``find_anchors`` names the events (of those kept) that the
        ``events`` view must map to persons through another identifier than their user id or anonymous id;
        :meth:`commit` stores them with the events (see :meth:`write_links`)."""
        unique, dropped = dedup_in_batch(columns)
        n = len(unique[0])
        found = find_anchors(unique) if find_anchors is not None and n else ()
        return Staged(columns=unique, table=columns_to_arrow(unique) if n else None, rows=n, dropped=dropped,
                      anchors=anchors_to_arrow(found) if found else None)

    @abstractmethod
    def commit(self, staged: Staged) -> WriteResult:
        """Insert staged events, each (source_id, message_id) at most once within the dedup window,
        atomically: the whole batch (minus duplicates) or nothing; with them, the anchors of the events
        inserted."""

    def write_columns(self, columns: Columns, find_anchors: AnchorFinder | None = None) -> WriteResult:
        return self.commit(self.stage(columns, find_anchors))

    def write_rows(self, rows: Sequence[tuple[object, ...]], find_anchors: AnchorFinder | None = None) -> WriteResult:
        """:meth:`write_columns` for row tuples."""
        return self.write_columns(transpose(rows), find_anchors)

    @abstractmethod
    def query(self, sql: str, max_rows: int, timeout_s: float) -> QueryResult:
        """Run one read-only statement (the ``POST /api/v1/query`` contract)."""

    @abstractmethod
    def prune_dedup(self, older_than: datetime) -> int:
        """Forget deduplication keys received before ``older_than``; returns how many."""

    @abstractmethod
    def write_links(self, links: Sequence[Link]) -> None:
        """Store identity links (kind, value, person id, seq): the identifier -> person map through which
        the ``events`` view gives each event its current person: the person of its user id, else of its
        anonymous id, else (an event whose user id and anonymous id are no identifiers) of its anchor, the
        identifier stored with it by :meth:`commit`. A link replaces an older one for the same identifier
        only if its seq is not older; writing the same links again is a no-op."""

    @abstractmethod
    def links_seq(self) -> int:
        """The highest seq among stored links (0 when none): where the next synchronisation starts."""

    @abstractmethod
    def ping(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...
