"""The event store ("warehouse"): one row per event, read by analytics.

Embedded: DuckDB (``siyu.warehouse.duckdb``). Server: ClickHouse (``siyu.warehouse.clickhouse``).
"""
