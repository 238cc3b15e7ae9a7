"""Shared by the analytics suites (behaviour: ``test_behaviour_*``, value: ``test_value_*``)."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["duckdb", "clickhouse"])
def engine_kind(request: pytest.FixtureRequest) -> str:
    """Each event store in turn: DuckDB, and ClickHouse's engine in process (chdb)."""
    return str(request.param)
