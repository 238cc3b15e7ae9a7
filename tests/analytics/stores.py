"""Event stores for the analytics suites: hand-made events written to DuckDB or to ClickHouse (chdb), and the
simulated brand as the embedded runtime stores it (to copy into both engines and compare their answers).

Every event's user id is its person's name and is linked to a person of that name (:func:`load`), so
persons in answers are the names the fixtures use.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from siyu.analytics.engine import Analytics
from siyu.simulate import CHANNELS, SimConfig, Simulator
from siyu.simulate.send import send_bulk
from siyu.sources.service import SourceAuth
from siyu.warehouse.base import Warehouse
from siyu.warehouse.clickhouse import ClickHouseWarehouse
from siyu.warehouse.duckdb import DuckDBWarehouse
from siyu.warehouse.record import EventRecord, decode_rows, encode_records
from tests.conftest import make_settings, open_api

KINDS = ["duckdb", "clickhouse"]
# the simulated brand's rows: events (``event_rows``) and identity links
Stored = tuple[list[tuple[Any, ...]], list[tuple[str, str, str, int]]]
_ids = count(1)
T = TypeVar("T")


def _us(dt: datetime) -> int:
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def record(person: str, when: datetime, name: str | None, *, channel: str = "web", msg_type: str = "track",
           properties: dict[str, Any] | None = None,
           utm: tuple[str | None, str | None, str | None] | None = None, scene: str | None = None,
           referrer: str | None = None, page_url: str | None = None) -> EventRecord:
    """One event of ``person`` (anonymous id ``anon-<person>``, user id ``<person>``)."""
    src, medium, campaign = utm or (None, None, None)
    n = next(_ids)
    return EventRecord(
        message_id=f"m{n:08d}", source_id=f"src-{channel}", channel=channel, type=msg_type, event=name,
        anonymous_id=f"anon-{person}", user_id=person, group_id=None, previous_id=None, timestamp_us=_us(when),
        original_timestamp_us=None, sent_at_us=None, received_at_us=_us(when),
        properties=json.dumps(properties or {}, ensure_ascii=False).encode(), traits=b"{}", context=b"{}",
        utm_source=src, utm_medium=medium, utm_campaign=campaign, utm_term=None, utm_content=None, scene=scene,
        page_url=page_url, referrer=referrer, ip=None)


def open_store(kind: str, path: Path) -> Warehouse:
    """A new, migrated event store of ``kind`` (``duckdb`` or ``clickhouse``) under ``path``."""
    wh: Warehouse = (DuckDBWarehouse(path / "events.duckdb") if kind == "duckdb"
                     else ClickHouseWarehouse(f"chdb://{path / 'chdb'}"))
    wh.migrate()
    return wh


def load(wh: Warehouse, records: Sequence[EventRecord]) -> None:
    """Write ``records`` and link every user id to a person of that name."""
    wh.write_rows(decode_rows(encode_records(list(records))))
    people = sorted({r.user_id for r in records if r.user_id})
    wh.write_links([("user_id", p, p, i + 1) for i, p in enumerate(people)])


@contextmanager
def store(kind: str, tmp_path: Path, records: Sequence[EventRecord]) -> Iterator[Analytics]:
    """An :class:`Analytics` on a new event store of ``kind`` holding ``records`` (closed afterwards: chdb
    allows one session per process)."""
    wh = open_store(kind, tmp_path / kind)
    try:
        load(wh, records)
        yield Analytics.of(wh)
    finally:
        wh.close()


def simulated(tmp_path: Path, config: SimConfig) -> Stored:
    """The simulated brand sent through the tracking API's bulk path and the worker of an embedded runtime:
    its events and identity links as stored."""
    settings = make_settings(tmp_path)
    with open_api(settings) as api:
        sources: dict[str, SourceAuth] = {ch: SourceAuth(source_id=api.source_ids[ch], channel=ch, rate_limit=None)
                                          for ch in CHANNELS}
        send = functools.partial(send_bulk, api.runtime, sources, Simulator(config).events())
        assert api.client.portal is not None
        assert api.client.portal.call(send).rejected == 0
        api.drain()
    con = duckdb.connect(str(settings.resolved_warehouse_url().removeprefix("duckdb:///")), read_only=True)
    try:
        events = con.execute("SELECT * FROM event_rows ORDER BY source_id, message_id").fetchall()
        links = con.execute("SELECT kind, value, person_id, seq FROM identity_links").fetchall()
    finally:
        con.close()
    return events, links


def on_each_engine(stored: Stored, tmp_path: Path, run: Callable[[Analytics], T]) -> dict[str, T]:
    """``run(analytics)`` on a copy of ``stored`` in each engine: ``{kind: answer}``."""
    events, links = stored
    results = {}
    for kind in KINDS:
        wh = open_store(kind, tmp_path / kind)
        try:
            wh.write_rows(events)
            wh.write_links(links)
            results[kind] = run(Analytics.of(wh))
        finally:
            wh.close()
    return results
