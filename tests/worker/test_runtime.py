"""The runtime's wiring of API and worker, on both buses."""

from __future__ import annotations

import base64
from pathlib import Path

from fastapi.testclient import TestClient

from siyu.app import create_app
from siyu.auth.schemas import Role
from siyu.auth.service import create_token
from siyu.bus.factory import make_bus
from siyu.config import Settings
from siyu.sources.schemas import Channel
from siyu.sources.service import create_source
from siyu.warehouse.duckdb import DuckDBWarehouse
from siyu.worker.warehouse import WarehouseWorker
from tests.bus.conftest import BusKit, run
from tests.warehouse.conftest import count


def test_events_accepted_before_any_worker_ran_are_stored(kit: BusKit, tmp_path: Path) -> None:
    """An API process without the event store (`siyu serve --no-worker`, workers not started yet) must
    still create the worker's consumer group: a group only receives what is published after it exists,
    so otherwise the events it answered 200 would be lost."""
    bus_env: dict[str, object] = (
        {"bus_url": f"sqlite:///{kit.path}"} if kit.kind == "sqlite"
        else {"bus_url": kit.url, "bus_namespace": kit.namespace}
    )
    settings = Settings(data_dir=tmp_path / "data", worker_batch_wait_ms=50, **bus_env)  # type: ignore[arg-type]
    app = create_app(settings, run_worker=False, with_warehouse=False)
    with TestClient(app) as client:
        runtime = app.state.runtime
        assert runtime.warehouse is None
        with runtime.db.session() as s:
            _, key = create_source(s, Channel.server, "shop")
            _, admin = create_token(s, Role.admin, "test")
        auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
        batch = [{"type": "track", "event": "Order Completed", "userId": "u1", "messageId": f"m{i}"}
                 for i in range(20)]
        r = client.post("/v1/batch", json={"batch": batch}, headers=auth)
        assert r.status_code == 200, r.text
        q = client.post("/api/v1/query", json={"sql": "SELECT 1"}, headers={"Authorization": f"Bearer {admin}"})
        assert q.status_code == 503 and q.json()["error"]["code"] == "warehouse_unavailable"  # not here

    warehouse = DuckDBWarehouse(tmp_path / "events.duckdb")
    warehouse.migrate()

    async def work() -> int:
        bus = make_bus(settings)
        await bus.start()
        try:
            return await WarehouseWorker(settings, bus, warehouse).drain(idle_s=2.0)
        finally:
            await bus.close()

    try:
        assert run(work()) == 1
        assert count(warehouse) == 20
    finally:
        warehouse.close()
