from __future__ import annotations

from pathlib import Path

from siyu.config import Settings
from siyu.warehouse.base import Warehouse


def make_warehouse(settings: Settings) -> Warehouse:
    url = settings.resolved_warehouse_url()
    if url.startswith("duckdb:///"):
        from siyu.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(Path(url.removeprefix("duckdb:///")))
    if url.startswith(("clickhouse://", "clickhouses://", "chdb://")):
        from siyu.warehouse.clickhouse import ClickHouseWarehouse

        return ClickHouseWarehouse(url)
    raise ValueError(f"unsupported SIYU_WAREHOUSE_URL: {url!r} (duckdb:///PATH, clickhouse://..., chdb:///PATH)")


def warehouse_is_exclusive(settings: Settings) -> bool:
    """True for the in-process engines (a DuckDB file, chdb), which one process at a time may open."""
    return settings.resolved_warehouse_url().startswith(("duckdb:///", "chdb://"))
