"""The server event store: ClickHouse.

``event_rows`` is a ReplacingMergeTree ordered by (source_id, message_id), and every read of it runs with
``final=1``, so each (source, messageId) is seen exactly once however many times it was inserted: a
redelivered bus message, a retry racing a worker crash, or two workers holding copies of one message.
ClickHouse has no multi-statement transactions, so this engine-level collapse is what makes the write
idempotent (DuckDB uses a key table inside a transaction instead). Writes are batched, one insert per
worker batch. ``events`` is a view over it that adds each event's current person from ``identity_links``
(a ReplacingMergeTree on seq, read FINAL like everything else), through the event's user id, anonymous id
or, for events where neither is an identifier, its anchor in ``event_anchors``.

Two ways in, the same SQL: ``clickhouse://user:password@host:8123/database`` talks to a server through
``clickhouse-connect``; ``chdb:///path`` runs ClickHouse's engine in-process (tests, single machines).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, cast
from urllib.parse import unquote, urlparse

import pyarrow as pa

from siyu.warehouse.base import (
    Link,
    QueryFailed,
    QueryRejected,
    QueryResult,
    QueryTimeout,
    Staged,
    Warehouse,
    WarehouseUnavailable,
    WriteResult,
    arrow_to_result,
    links_to_arrow,
    single_select,
)
from siyu.warehouse.record import COLUMNS

_TYPES = {
    "str": "String",
    "str?": "Nullable(String)",
    "json": "String",
    "ts": "DateTime64(6, 'UTC')",
    "ts?": "Nullable(DateTime64(6, 'UTC'))",
}
_LOW_CARDINALITY = {"channel", "type", "source_id"}
_TIMEOUT_CODE = re.compile(r"Code: (159|394)\b")
_READONLY_CODE = re.compile(r"Code: 164\b|\(READONLY\)")


def _ddl(db: str) -> list[str]:
    cols = []
    for name, kind in COLUMNS:
        t = _TYPES[kind]
        if name in _LOW_CARDINALITY:
            t = f"LowCardinality({t})"
        cols.append(f"`{name}` {t}")
    return [
        f"CREATE DATABASE IF NOT EXISTS `{db}`",
        f"CREATE TABLE IF NOT EXISTS `{db}`.event_rows ({', '.join(cols)}) "
        "ENGINE = ReplacingMergeTree ORDER BY (source_id, message_id)",
        f"CREATE TABLE IF NOT EXISTS `{db}`.identity_links (kind LowCardinality(String), value String, "
        "person_id String, seq Int64) ENGINE = ReplacingMergeTree(seq) ORDER BY (kind, value)",
        f"CREATE TABLE IF NOT EXISTS `{db}`.event_anchors (source_id LowCardinality(String), message_id String, "
        "kind LowCardinality(String), value String) ENGINE = ReplacingMergeTree ORDER BY (source_id, message_id)",
        # Each event's person is looked up at query time: the person of its user id, else of its anonymous id,
        # else (neither is an identifier) of the identifier it is anchored to. OR REPLACE: stores made before
        # anchors get the new view.
        f"CREATE OR REPLACE VIEW `{db}`.events AS SELECT e.* EXCEPT (person_id), "
        "coalesce(nullIf(lu.lu_person, ''), nullIf(la.la_person, ''), nullIf(lx.lx_person, '')) AS person_id "
        f"FROM `{db}`.event_rows AS e "
        f"LEFT JOIN (SELECT value AS lu_value, person_id AS lu_person FROM `{db}`.identity_links "
        "WHERE kind = 'user_id') AS lu ON lu.lu_value = e.user_id "
        f"LEFT JOIN (SELECT value AS la_value, person_id AS la_person FROM `{db}`.identity_links "
        "WHERE kind = 'anonymous_id') AS la ON la.la_value = e.anonymous_id "
        "LEFT JOIN (SELECT a.source_id AS lx_source, a.message_id AS lx_message, l.person_id AS lx_person "
        f"FROM `{db}`.event_anchors AS a INNER JOIN `{db}`.identity_links AS l "
        "ON l.kind = a.kind AND l.value = a.value) AS lx "
        "ON lx.lx_source = e.source_id AND lx.lx_message = e.message_id",
    ]


class _Client(Protocol):
    db: str

    def use(self, db: str) -> None: ...
    def command(self, sql: str) -> None: ...
    def insert(self, db: str, name: str, table: pa.Table) -> None: ...
    def query(self, sql: str, settings: dict[str, Any]) -> pa.Table: ...
    def close(self) -> None: ...


class _ServerClient:
    def __init__(self, url: str) -> None:
        import clickhouse_connect

        u = urlparse(url)
        self.db = (u.path or "/siyu").strip("/") or "siyu"
        self._client = clickhouse_connect.get_client(
            host=u.hostname or "localhost",
            port=u.port or (8443 if u.scheme == "clickhouses" else 8123),
            username=unquote(u.username or "default"),
            password=unquote(u.password or ""),
            secure=u.scheme == "clickhouses",
        )

    def use(self, db: str) -> None:
        self._client.database = db

    def command(self, sql: str) -> None:
        self._client.command(sql)

    def insert(self, db: str, name: str, table: pa.Table) -> None:
        self._client.insert_arrow(name, table, database=db)

    def query(self, sql: str, settings: dict[str, Any]) -> pa.Table:
        return self._client.query_arrow(sql, settings=settings)

    def close(self) -> None:
        self._client.close()


class _ChdbClient:
    def __init__(self, path: str) -> None:
        from chdb import session

        self.db = "siyu"
        # chdb allows one open session per process (a second one fails until the first is closed).
        self._session: Any = cast(Any, session).Session(path)

    def use(self, db: str) -> None:
        self._session.query(f"USE `{db}`")

    def command(self, sql: str) -> None:
        self._session.query(sql)

    def insert(self, db: str, name: str, table: pa.Table) -> None:
        siyu_batch = table  # chdb's Python() table function finds the arrow table by this local name
        assert siyu_batch is table
        self._session.query(f"INSERT INTO `{db}`.`{name}` SELECT * FROM Python(siyu_batch)")

    def query(self, sql: str, settings: dict[str, Any]) -> pa.Table:
        clause = ", ".join(f"{k}={v}" for k, v in settings.items())
        result = self._session.query(f"{sql} SETTINGS {clause}", "ArrowTable")
        if not isinstance(result, pa.Table):
            raise QueryFailed("unexpected result from chdb")
        return result

    def close(self) -> None:
        self._session.close()


class ClickHouseWarehouse(Warehouse):
    name = "clickhouse"
    dialect = "clickhouse"

    def __init__(self, url: str) -> None:
        try:
            self._client: _Client
            if url.startswith("chdb://"):
                self._client = _ChdbClient(url.removeprefix("chdb://"))
            else:
                self._client = _ServerClient(url)
        except Exception as exc:
            raise WarehouseUnavailable(details={"reason": repr(exc)}) from exc
        self.db = self._client.db
        self._lock = threading.Lock()

    def migrate(self) -> None:
        with self._lock:
            self._client.command(f"CREATE DATABASE IF NOT EXISTS `{self.db}`")
            old = self._client.query(
                f"SELECT count() FROM system.tables WHERE database = '{self.db}' AND name = 'events' "
                "AND engine != 'View'", {"output_format_arrow_string_as_string": 1})
            if int(old.column(0)[0].as_py()):  # a store made before identity: events becomes event_rows
                self._client.command(f"RENAME TABLE `{self.db}`.events TO `{self.db}`.event_rows")
            anchors = self._client.query(
                f"SELECT count() FROM system.tables WHERE database = '{self.db}' AND name = 'event_anchors'",
                {"output_format_arrow_string_as_string": 1})
            upgrade = not int(anchors.column(0)[0].as_py())
            for stmt in _ddl(self.db):
                self._client.command(stmt)
            if upgrade:
                # A store made before anchors holds only user id and anonymous id links: emptied, the identity
                # worker copies every link again (persons are missing from events until it has).
                self._client.command(f"TRUNCATE TABLE `{self.db}`.identity_links")
            self._client.use(self.db)

    def commit(self, staged: Staged) -> WriteResult:
        """Rows, then their anchors. A crash in between leaves anchors missing only until the unacknowledged
        batch is delivered again; copies of a row and of its anchor collapse alike (ReplacingMergeTree)."""
        if staged.table is not None:
            with self._lock:
                self._client.insert(self.db, "event_rows", staged.table)
                if staged.anchors is not None:
                    self._client.insert(self.db, "event_anchors", staged.anchors)
        return WriteResult(inserted=staged.rows, duplicates=staged.dropped)

    def _one_query(self, body: str) -> str:
        """``body`` as ClickHouse's own parser reads it: exactly one complete query, on one line, without
        comments. Wrapped in a subquery it cannot close the parenthesis, comment out the SETTINGS that
        follow (chdb takes them in the SQL text) or add a second statement (chdb runs several)."""
        if "\x00" in body:
            raise QueryRejected()
        literal = "'" + body.replace("\\", "\\\\").replace("'", "\\'") + "'"
        table = self._client.query(f"SELECT formatQuerySingleLine({literal})",
                                   {"readonly": 1, "output_format_arrow_string_as_string": 1})
        one = str(table.column(0)[0].as_py())
        if not one.upper().startswith(("SELECT", "WITH")):
            raise QueryRejected()
        return one

    def query(self, sql: str, max_rows: int, timeout_s: float) -> QueryResult:
        body = single_select(sql)
        settings = {
            "readonly": 1,
            "final": 1,
            "max_execution_time": max(1, int(timeout_s)),
            "output_format_arrow_string_as_string": 1,
        }
        try:
            with self._lock:
                wrapped = f"SELECT * FROM ({self._one_query(body)}) LIMIT {max_rows + 1}"
                table = self._client.query(wrapped, settings)
        except QueryRejected:
            raise
        except Exception as exc:
            text = str(exc)
            if "Multi-statements are not allowed" in text:
                raise QueryRejected() from exc
            if _TIMEOUT_CODE.search(text):
                raise QueryTimeout(details={"timeout_s": timeout_s}) from exc
            if _READONLY_CODE.search(text):  # not the word: error texts echo the query and its SETTINGS
                raise QueryFailed("Only reads are allowed.", code="query_not_read_only") from exc
            raise QueryFailed(text.split("\n")[0][:500], details={"engine": "clickhouse"}) from exc
        return arrow_to_result(table, max_rows)

    def count(self) -> int:
        return int(self.query("SELECT count() AS n FROM event_rows", 1, 30).rows[0][0])

    def write_links(self, links: Sequence[Link]) -> None:
        if links:
            with self._lock:
                self._client.insert(self.db, "identity_links", links_to_arrow(links))

    def links_seq(self) -> int:
        with self._lock:
            table = self._client.query(f"SELECT max(seq) FROM `{self.db}`.identity_links", {"readonly": 1})
        value = table.column(0)[0].as_py()
        return int(value or 0)

    def prune_dedup(self, older_than: datetime) -> int:
        return 0  # the engine collapses duplicates for ever; there is no key table to prune

    def ping(self) -> None:
        try:
            with self._lock:
                self._client.query("SELECT 1", {"readonly": 1})
        except Exception as exc:
            raise WarehouseUnavailable(details={"reason": repr(exc)}) from exc

    def close(self) -> None:
        with self._lock:
            self._client.close()
