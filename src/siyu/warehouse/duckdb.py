"""The embedded event store: one DuckDB file.

The physical table is ``event_rows``; ``events`` is a view that adds each event's current person from
``identity_links`` through the event's user id, anonymous id or, for the few events where neither is an
identifier, the identifier in ``event_anchors`` (see docs/identity.md for why persons are mapped at query
time).

Exactly once: the worker's batch goes in one DuckDB transaction that first inserts the batch's
(source_id, message_id) keys into ``event_keys`` (primary key, ``ON CONFLICT DO NOTHING RETURNING``)
and then inserts only the events whose keys were new. A redelivered bus message, a client retry or a
second API process's copy of the same message therefore adds nothing; the transaction commits before the
bus message is acknowledged, so a crash in between only causes a redelivery that is dropped here.

The database runs with external access disabled, so the query API cannot read or write files.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb
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
    columns_to_arrow,
    links_to_arrow,
    single_select,
    take,
)
from siyu.warehouse.record import COLUMNS

_TYPES = {"str": "VARCHAR NOT NULL", "str?": "VARCHAR", "json": "JSON", "ts": "TIMESTAMP NOT NULL",
          "ts?": "TIMESTAMP"}
_COLS = ", ".join(name for name, _ in COLUMNS)

DDL = [
    "CREATE TABLE IF NOT EXISTS event_rows ("
    + ", ".join(f'"{name}" {_TYPES[kind]}' for name, kind in COLUMNS)
    + ")",
    "CREATE TABLE IF NOT EXISTS event_keys (source_id VARCHAR NOT NULL, message_id VARCHAR NOT NULL, "
    "received_at TIMESTAMP NOT NULL, PRIMARY KEY (source_id, message_id))",
    "CREATE TABLE IF NOT EXISTS identity_links (kind VARCHAR NOT NULL, value VARCHAR NOT NULL, "
    "person_id VARCHAR NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (kind, value))",
    "CREATE TABLE IF NOT EXISTS event_anchors (source_id VARCHAR NOT NULL, message_id VARCHAR NOT NULL, "
    "kind VARCHAR NOT NULL, value VARCHAR NOT NULL, PRIMARY KEY (source_id, message_id))",
    # Each event's person is looked up at query time: the person of its user id, else of its anonymous id,
    # else (neither is an identifier) of the identifier it is anchored to.
    "CREATE OR REPLACE VIEW events AS SELECT e.* EXCLUDE (person_id), "
    "COALESCE(lu.person_id, la.person_id, lx.person_id) AS person_id FROM event_rows AS e "
    "LEFT JOIN identity_links AS lu ON lu.kind = 'user_id' AND lu.value = e.user_id "
    "LEFT JOIN identity_links AS la ON la.kind = 'anonymous_id' AND la.value = e.anonymous_id "
    "LEFT JOIN (SELECT a.source_id, a.message_id, l.person_id FROM event_anchors AS a "
    "JOIN identity_links AS l ON l.kind = a.kind AND l.value = a.value) AS lx "
    "ON lx.source_id = e.source_id AND lx.message_id = e.message_id",
]
# Stores made before identity: the events table becomes event_rows under the view.
_UPGRADE = ("SELECT count(*) FROM information_schema.tables WHERE table_name = 'events' "
            "AND table_type = 'BASE TABLE'")
_ANCHORS = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'event_anchors'"


class DuckDBWarehouse(Warehouse):
    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(path), config={"enable_external_access": "false"})
        except duckdb.Error as exc:
            raise WarehouseUnavailable(details={"reason": str(exc)}) from exc
        self._write_lock = threading.Lock()

    def migrate(self) -> None:
        with self._write_lock:
            row = self._con.execute(_UPGRADE).fetchone()
            if row and row[0]:
                self._con.execute("ALTER TABLE events RENAME TO event_rows")
            anchors = self._con.execute(_ANCHORS).fetchone()
            for stmt in DDL:
                self._con.execute(stmt)
            if not (anchors and anchors[0]):
                # A store made before anchors holds only user id and anonymous id links: seq 0 makes the
                # identity worker copy every link again (the persons stay in place meanwhile).
                self._con.execute("UPDATE identity_links SET seq = 0")

    def commit(self, staged: Staged) -> WriteResult:
        unique, n, dropped = staged.columns, staged.rows, staged.dropped
        if staged.table is None:
            return WriteResult(0, dropped)
        with self._write_lock:
            con = self._con
            con.begin()
            try:
                con.register("siyu_staged", staged.table)
                new = con.sql(
                    "INSERT INTO event_keys SELECT source_id, message_id, received_at FROM siyu_staged "
                    "ON CONFLICT DO NOTHING RETURNING source_id, message_id"
                ).to_arrow_table()
                inserted = new.num_rows
                anchors = staged.anchors
                if inserted == n:
                    con.execute(f"INSERT INTO event_rows ({_COLS}) SELECT {_COLS} FROM siyu_staged")
                elif inserted:
                    keep = set(zip(new.column(0).to_pylist(), new.column(1).to_pylist(), strict=True))
                    indices = [i for i, key in enumerate(zip(unique[1], unique[0], strict=True)) if key in keep]
                    con.register("siyu_new", columns_to_arrow(take(unique, indices)))
                    con.execute(f"INSERT INTO event_rows ({_COLS}) SELECT {_COLS} FROM siyu_new")
                    con.unregister("siyu_new")
                    if anchors is not None:  # only those of the events inserted now, as the rows
                        mask = [key in keep for key in zip(anchors.column(0).to_pylist(),
                                                           anchors.column(1).to_pylist(), strict=True)]
                        anchors = anchors.filter(pa.array(mask, type=pa.bool_()))
                else:
                    anchors = None
                if anchors is not None and anchors.num_rows:
                    con.register("siyu_anchors", anchors)
                    # (a key sent again after the deduplication window keeps its first anchor)
                    con.execute("INSERT INTO event_anchors SELECT source_id, message_id, kind, value "
                                "FROM siyu_anchors ON CONFLICT DO NOTHING")
                    con.unregister("siyu_anchors")
                con.unregister("siyu_staged")
                con.commit()
            except BaseException:
                con.rollback()
                raise
        return WriteResult(inserted=inserted, duplicates=dropped + n - inserted)

    def query(self, sql: str, max_rows: int, timeout_s: float) -> QueryResult:
        body = single_select(sql)
        cur = self._con.cursor()
        timer = threading.Timer(timeout_s, cur.interrupt)
        try:
            try:
                statements = cur.extract_statements(body)
            except duckdb.Error as exc:
                raise QueryFailed(str(exc)) from exc
            if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
                raise QueryRejected()
            timer.start()
            cur.begin()
            try:
                reader = cur.sql(body).to_arrow_reader(batch_size=min(max_rows + 1, 100_000))
                try:
                    batches = []
                    got = 0
                    for batch in reader:
                        batches.append(batch)
                        got += batch.num_rows
                        if got > max_rows:
                            break
                    table = pa.Table.from_batches(batches, schema=reader.schema)
                finally:
                    reader.close()  # a result left open (more rows than max_rows) blocks the rollback
            finally:
                cur.rollback()
        except duckdb.InterruptException as exc:
            raise QueryTimeout(details={"timeout_s": timeout_s}) from exc
        except duckdb.Error as exc:
            raise QueryFailed(str(exc).split("\n")[0], details={"engine": "duckdb"}) from exc
        finally:
            timer.cancel()
            cur.close()
        return arrow_to_result(table, max_rows)

    def prune_dedup(self, older_than: datetime) -> int:
        cutoff = older_than.astimezone(UTC).replace(tzinfo=None)
        with self._write_lock:
            row = self._con.execute(
                "DELETE FROM event_keys WHERE received_at < ? RETURNING 1", [cutoff]
            ).fetchall()
        return len(row)

    def write_links(self, links: Sequence[Link]) -> None:
        if not links:
            return
        table = links_to_arrow(links)
        with self._write_lock:
            con = self._con
            con.begin()
            try:
                con.register("siyu_links", table)
                # Moved identifiers: their older links go, then every link not held at a newer seq goes in.
                # (An upsert's update path costs several times this on a large table, whatever the rows.)
                con.execute(
                    "DELETE FROM identity_links USING siyu_links WHERE identity_links.kind = siyu_links.kind "
                    "AND identity_links.value = siyu_links.value AND identity_links.seq <= siyu_links.seq"
                )
                con.execute(
                    "INSERT INTO identity_links SELECT kind, value, person_id, seq FROM siyu_links "
                    "ON CONFLICT (kind, value) DO NOTHING"
                )
                con.unregister("siyu_links")
                con.commit()
            except BaseException:
                con.rollback()
                raise

    def links_seq(self) -> int:
        cur = self._con.cursor()
        try:
            row = cur.execute("SELECT coalesce(max(seq), 0) FROM identity_links").fetchone()
            return int(row[0]) if row else 0
        finally:
            cur.close()

    def count(self) -> int:
        cur = self._con.cursor()
        try:
            row = cur.execute("SELECT count(*) FROM event_rows").fetchone()
            return int(row[0]) if row else 0
        finally:
            cur.close()

    def ping(self) -> None:
        cur = self._con.cursor()
        try:
            cur.execute("SELECT 1").fetchall()
        except duckdb.Error as exc:
            raise WarehouseUnavailable(details={"reason": str(exc)}) from exc
        finally:
            cur.close()

    def close(self) -> None:
        with self._write_lock:
            self._con.close()
