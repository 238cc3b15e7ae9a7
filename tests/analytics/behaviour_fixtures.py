"""Small hand-made event histories for the behaviour analyses, written to either event store.

Times are brand-local (UTC+8) days and hours; every event's user id is its person's name and is linked to
a person of that name, so persons in answers are the names used here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

from siyu.analytics.engine import Analytics
from siyu.warehouse.base import Warehouse
from siyu.warehouse.clickhouse import ClickHouseWarehouse
from siyu.warehouse.duckdb import DuckDBWarehouse
from siyu.warehouse.record import EventRecord, decode_rows, encode_records

KINDS = ["duckdb", "clickhouse"]
DAY = date(2026, 3, 1)  # "day 0" of the fixtures
_ids = count(1)


def at(day: int, hour: float = 12.0) -> datetime:
    """The UTC instant of ``hour`` o'clock (brand-local) on day ``day`` after :data:`DAY`."""
    d = DAY + timedelta(days=day)
    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(hours=hour - 8)


def on(day: int) -> date:
    return DAY + timedelta(days=day)


def _us(dt: datetime) -> int:
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def ev(person: str, when: datetime, name: str | None, channel: str = "web", *, msg_type: str = "track",
       props: dict[str, Any] | None = None, utm_source: str | None = None) -> EventRecord:
    n = next(_ids)
    return EventRecord(
        message_id=f"b{n:08d}", source_id=f"src-{channel}", channel=channel, type=msg_type, event=name,
        anonymous_id=f"anon-{person}", user_id=person, group_id=None, previous_id=None, timestamp_us=_us(when),
        original_timestamp_us=None, sent_at_us=None, received_at_us=_us(when),
        properties=json.dumps(props or {}, ensure_ascii=False).encode(), traits=b"{}", context=b"{}",
        utm_source=utm_source, utm_medium=None, utm_campaign=None, utm_term=None, utm_content=None, scene=None,
        page_url=None, referrer=None, ip=None)


def open_store(kind: str, path: Path) -> Warehouse:
    wh: Warehouse = (DuckDBWarehouse(path / "behaviour.duckdb") if kind == "duckdb"
                     else ClickHouseWarehouse(f"chdb://{path / 'behaviour-chdb'}"))
    wh.migrate()
    return wh


def load(wh: Warehouse, records: Sequence[EventRecord]) -> None:
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
