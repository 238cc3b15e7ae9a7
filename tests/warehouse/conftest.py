"""Both event stores behind one fixture.

chdb (ClickHouse in-process) allows one open session per process: opening a second one while the first
is open fails, but a new session (on any path) works once the previous one is closed. So every
ClickHouse warehouse here is function-scoped and closed at teardown, and no test opens two at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from siyu.warehouse.base import Warehouse
from siyu.warehouse.clickhouse import ClickHouseWarehouse
from siyu.warehouse.duckdb import DuckDBWarehouse


def open_warehouse(kind: str, tmp_path: Path) -> Warehouse:
    wh: Warehouse
    if kind == "duckdb":
        wh = DuckDBWarehouse(tmp_path / "events.duckdb")
    else:
        wh = ClickHouseWarehouse(f"chdb://{tmp_path / 'chdb'}")
    wh.migrate()
    return wh


@pytest.fixture(params=["duckdb", "clickhouse"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    wh = open_warehouse(request.param, tmp_path)
    try:
        yield wh
    finally:
        wh.close()


def count(wh: Warehouse, where: str = "true") -> int:
    return int(wh.query(f"SELECT count(*) FROM events WHERE {where}", 10, 30).rows[0][0])
