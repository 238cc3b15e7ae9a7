"""The event store contract (siyu.warehouse.base), run against DuckDB and ClickHouse (chdb in-process)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from siyu.errors import SiyuError
from siyu.identity.extract import event_anchors
from siyu.warehouse.base import QueryTimeout, Warehouse
from siyu.warehouse.clickhouse import ClickHouseWarehouse
from siyu.warehouse.duckdb import DuckDBWarehouse
from siyu.warehouse.record import EventRecord
from tests.warehouse.conftest import count, open_warehouse
from tests.warehouse.rows import BASE, batch, record, rows

COMPARED = (
    "message_id, source_id, channel, type, event, anonymous_id, user_id, person_id, timestamp, received_at, "
    "properties, context, utm_source, utm_medium, utm_campaign, utm_term, utm_content"
)


def test_writing_the_same_rows_twice_stores_them_once(warehouse: Warehouse) -> None:
    first = batch(0, 50)
    warehouse.write_rows(first)
    warehouse.write_rows(first)  # a redelivered bus message
    warehouse.write_rows(batch(25, 50))  # half old, half new (a client retry racing a crash)
    assert count(warehouse) == 75
    distinct = warehouse.query("SELECT count(DISTINCT message_id) FROM events", 10, 30).rows[0][0]
    assert distinct == 75


def test_duplicates_inside_one_batch_keep_the_first(warehouse: Warehouse) -> None:
    recs = [record(1, event="First"), record(2), record(1, event="Second copy"), record(3)]
    result = warehouse.write_rows(rows(recs))
    assert result.duplicates >= 1
    assert count(warehouse) == 3
    assert warehouse.query("SELECT event FROM events WHERE message_id = 'msg-000001'", 10, 30).rows == [["First"]]


def test_the_key_is_source_and_message_id(warehouse: Warehouse) -> None:
    """messageId is unique per source: the same id from two sources is two events."""
    warehouse.write_rows(rows([record(1, source="src-a"), record(1, source="src-b")]))
    warehouse.write_rows(rows([record(1, source="src-b")]))
    got = warehouse.query("SELECT source_id, count(*) FROM events GROUP BY source_id ORDER BY source_id", 10, 30)
    assert got.rows == [["src-a", 1], ["src-b", 1]]


def test_a_failed_batch_stores_nothing(warehouse: Warehouse) -> None:
    """All or nothing: a batch the store refuses leaves no part of itself behind."""
    good = batch(0, 10)
    bad = (*good[5][:9], "not a timestamp", *good[5][10:])  # timestamp column of the 6th row
    with pytest.raises(Exception):  # noqa: B017 - the engine's own conversion error
        warehouse.write_rows([*good[:5], bad, *good[6:]])
    assert count(warehouse) == 0
    warehouse.write_rows(good)  # and the keys of the refused batch were not remembered
    assert count(warehouse) == 10


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE events",
        "DELETE FROM events",
        "INSERT INTO events SELECT * FROM events",
        "CREATE TABLE x (a INT)",
        "SELECT 1; DROP TABLE events",
        "(SELECT 1); DELETE FROM events",
        "SELECT count(*) FROM events) --",  # try to close the engine's wrapping subquery
        "SELECT 1); DROP TABLE events; SELECT (1",
        "WITH a AS (SELECT 1) DELETE FROM events",
        "COPY events TO '{tmp}/out.csv'",
        "ATTACH '{tmp}/other.db' AS other",
        "SET threads = 1",
        "SELECT * FROM read_csv('{tmp}/secret.csv')",
        "SELECT * FROM file('{tmp}/secret.csv', 'CSV')",
        "SELECT * FROM file('{tmp}/secret.csv', 'CSV')) --",
        "SELECT * FROM file('{tmp}/secret.csv', 'CSV') SETTINGS readonly = 0",
        "SELECT * FROM url('http://127.0.0.1:9/x', 'CSV')",
        "SELECT * FROM events INTO OUTFILE '{tmp}/out.csv'",
    ],
)
def test_query_runs_only_one_read_only_statement(warehouse: Warehouse, tmp_path: Path, sql: str) -> None:
    warehouse.write_rows(batch(0, 5))
    (tmp_path / "secret.csv").write_text("secret,value\nsesame,42\n")
    with pytest.raises(SiyuError) as err:
        warehouse.query(sql.format(tmp=tmp_path), 10, 30)
    assert 400 <= err.value.status < 500
    assert err.value.code in ("query_not_read_only", "query_failed")
    if sql.startswith(("DROP", "DELETE", "INSERT", "CREATE", "COPY", "ATTACH", "SET", "SELECT 1;", "(SELECT 1);")):
        assert err.value.code == "query_not_read_only"
    assert "sesame" not in str(err.value.body())
    assert count(warehouse) == 5  # nothing was changed
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "other.db").exists()


@pytest.mark.parametrize("sql", ["SELECT count(*) FROM events;", "  -- why\nSELECT count(*) FROM events",
                                 "/* c */ WITH e AS (SELECT * FROM events) SELECT count(*) FROM e"])
def test_query_accepts_comments_and_a_trailing_semicolon(warehouse: Warehouse, sql: str) -> None:
    warehouse.write_rows(batch(0, 3))
    assert warehouse.query(sql, 10, 30).rows == [[3]]


def test_query_timeout(warehouse: Warehouse) -> None:
    slow = ("SELECT sum(hash(i)) FROM range(100000000000) t(i)" if warehouse.name == "duckdb"
            else "SELECT sum(cityHash64(number)) FROM numbers(100000000000)")
    with pytest.raises(QueryTimeout) as err:
        warehouse.query(slow, 10, 1.0)
    assert err.value.status == 408 and err.value.code == "query_timeout"
    warehouse.write_rows(batch(0, 2))  # the store still works afterwards
    assert count(warehouse) == 2


def test_query_truncates_at_max_rows(warehouse: Warehouse) -> None:
    warehouse.write_rows(batch(0, 30))
    got = warehouse.query("SELECT message_id FROM events ORDER BY message_id", 10, 30)
    assert got.truncated is True
    assert [r[0] for r in got.rows] == [f"msg-{i:06d}" for i in range(10)]
    whole = warehouse.query("SELECT message_id FROM events", 30, 30)
    assert whole.truncated is False and len(whole.rows) == 30


def test_both_engines_answer_the_same(tmp_path: Path) -> None:
    """The same rows give the same answer, cell for cell, on DuckDB and on ClickHouse."""
    data = batch(0, 40) + rows([record(100, source="src-b", message_id="msg-000001", user_id=None,
                                       utm_source=None, properties=b"{}")])
    answers = {}
    for kind in ("duckdb", "clickhouse"):
        wh = open_warehouse(kind, tmp_path / kind)
        try:
            wh.write_rows(data)
            wh.write_rows(data[:10])
            answers[kind] = wh.query(f"SELECT {COMPARED} FROM events ORDER BY source_id, message_id", 1000, 30)
        finally:
            wh.close()
    duck, house = answers["duckdb"], answers["clickhouse"]
    assert duck.columns == house.columns == [c.strip() for c in COMPARED.split(",")]
    assert len(duck.rows) == 41
    assert duck.rows == house.rows
    first = dict(zip(duck.columns, duck.rows[0], strict=True))
    assert first["received_at"] == BASE.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    assert first["timestamp"] == (BASE - timedelta(milliseconds=250)).replace(tzinfo=None).isoformat(
        timespec="microseconds") + "Z"


def test_duckdb_forgets_keys_older_than_the_window(tmp_path: Path) -> None:
    wh = DuckDBWarehouse(tmp_path / "events.duckdb")
    wh.migrate()
    try:
        old = rows([record(i, received=BASE - timedelta(days=10)) for i in range(5)])
        new = rows([record(i, received=BASE) for i in range(5, 8)])
        wh.write_rows(old + new)
        assert wh.prune_dedup(BASE - timedelta(days=7)) == 5
        assert wh.prune_dedup(BASE - timedelta(days=7)) == 0
        wh.write_rows(new)  # still inside the window: still deduplicated
        assert count(wh) == 8
        wh.write_rows(old)  # outside the window: no longer remembered
        assert count(wh) == 13
    finally:
        wh.close()


def _anchored(i: int, **kw: object) -> EventRecord:
    """An event whose anonymous id is junk and that has no user id, seen with a device id."""
    fields: dict[str, object] = {"anonymous_id": "0", "user_id": None,
                                 "context": b'{"device": {"id": "box-1", "type": "android"}}'}
    fields.update(kw)
    return record(i, **fields)


def test_events_known_by_another_identifier_get_its_person(warehouse: Warehouse) -> None:
    """The worker stores the identifier an event is anchored to when its user id and anonymous id are no
    identifiers; the ``events`` view maps it through that identifier's link, which later links replace (a
    merge, an unmerge). Redelivery and in-batch duplicates keep the first copy, anchor included."""
    recs = [_anchored(1), _anchored(2, context=b'{"traits": {"phone": "13700002222"}}'),
            _anchored(3, context=b"{}"),  # no identifier at all: no person
            _anchored(4, user_id="u-4"),  # the user id's person, whatever the device
            record(5, anonymous_id="anon-5", user_id=None),
            _anchored(6, user_id="u-6"), _anchored(6)]  # the first copy (a user id) is kept, and no anchor
    data = rows(recs)
    warehouse.write_rows(data, event_anchors)
    warehouse.write_rows(data, event_anchors)  # a redelivered bus message
    warehouse.write_links([("device_id", "box-1", "p-box", 1), ("phone", "+8613700002222", "p-phone", 1),
                           ("user_id", "u-4", "p-4", 1), ("user_id", "u-6", "p-6", 1),
                           ("anonymous_id", "anon-5", "p-5", 1)])

    def persons() -> dict[str, object]:
        got = warehouse.query("SELECT message_id, person_id FROM events ORDER BY message_id", 100, 30).rows
        return {str(m)[-1]: p for m, p in got}

    assert persons() == {"1": "p-box", "2": "p-phone", "3": None, "4": "p-4", "5": "p-5", "6": "p-6"}
    warehouse.write_links([("device_id", "box-1", "p-owner", 2)])  # the box's person merged into the owner
    assert persons()["1"] == "p-owner"
    warehouse.write_links([("device_id", "box-1", "p-box", 3)])  # and the merge undone
    assert persons() == {"1": "p-box", "2": "p-phone", "3": None, "4": "p-4", "5": "p-5", "6": "p-6"}
    assert count(warehouse) == 6


@pytest.mark.parametrize("kind", ["duckdb", "clickhouse"])
def test_a_store_made_before_anchors_has_every_link_copied_again(kind: str, tmp_path: Path) -> None:
    """Before anchors only user id and anonymous id links were copied: the upgrade sends the identity worker
    back to the start (the store's high-water mark reads 0), so the other kinds' links arrive too."""
    wh = open_warehouse(kind, tmp_path)
    try:
        wh.write_links([("user_id", "u-1", "p-1", 7)])
        assert wh.links_seq() == 7
        # as a store before anchors: no event_anchors table
        if isinstance(wh, DuckDBWarehouse):
            wh._con.execute("DROP VIEW events")
            wh._con.execute("DROP TABLE event_anchors")
        else:
            assert isinstance(wh, ClickHouseWarehouse)
            wh._client.command(f"DROP VIEW `{wh.db}`.events")
            wh._client.command(f"DROP TABLE `{wh.db}`.event_anchors")
        wh.migrate()
        assert wh.links_seq() == 0
        wh.migrate()  # once only
        wh.write_links([("user_id", "u-1", "p-1", 7), ("device_id", "d-1", "p-1", 3)])
        wh.migrate()
        assert wh.links_seq() == 7
    finally:
        wh.close()
