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


def query_key_path(settings: Settings) -> Path:
    """Where ``siyu serve`` leaves the key of its worker's query socket for local tools (mode 0600)."""
    return Path(settings.data_dir).resolve() / "warehouse.key"


def open_for_reading(settings: Settings) -> Warehouse:
    """The event store for a local tool (``siyu report``): the running server's worker over its query
    socket when there is one (it owns a DuckDB file), else the store itself."""
    if warehouse_is_exclusive(settings):
        from siyu.warehouse.remote import RemoteWarehouse

        key = query_key_path(settings)
        sock = key.with_name("warehouse.sock")
        if key.exists() and sock.exists():
            dialect = "duckdb" if settings.resolved_warehouse_url().startswith("duckdb") else "clickhouse"
            remote = RemoteWarehouse(sock, bytes.fromhex(key.read_text().strip()), dialect)
            try:
                remote.ping()
                return remote
            except Exception:
                remote.close()
    warehouse = make_warehouse(settings)
    warehouse.migrate()
    return warehouse
