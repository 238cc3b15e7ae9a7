"""Operations: /healthz, /readyz (each dependency down in turn) and /metrics, on an in-process app.

The live server's side of these (the worker in a child process, several API processes) is in
tests/e2e/test_serve_processes.py.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from tests.conftest import Api, make_settings, open_api
from tests.identity.journeys import basic, msg
from tests.support import delete_rabbit_namespace, postgres_database, rabbit_namespace, service_url

CHECKS = {"database", "bus", "warehouse"}


def samples(api: Api) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of ``/metrics``: (name, labels) -> value."""
    r = api.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def ready(api: Api) -> tuple[int, dict[str, Any]]:
    r = api.client.get("/readyz")
    return r.status_code, r.json()


def assert_down(api: Api, check: str) -> None:
    """/readyz answers 503 naming ``check``, and only it, as failed."""
    status, body = ready(api)
    assert status == 503, body
    assert body["status"] == "not_ready"
    assert set(body["checks"]) == CHECKS
    assert {name for name, c in body["checks"].items() if not c["ok"]} == {check}, body
    assert body["checks"][check]["error"]


def assert_ready(api: Api) -> None:
    status, body = ready(api)
    assert status == 200, body
    assert body == {"status": "ready", "checks": {name: {"ok": True} for name in CHECKS}}


def test_healthz_says_the_process_is_up(api: Api) -> None:
    r = api.client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_is_200_when_the_database_the_bus_and_the_event_store_answer(api: Api) -> None:
    assert_ready(api)


def test_readyz_names_the_embedded_database_when_it_cannot_be_opened(api: Api, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The operational database's file is on a path that cannot be opened (its directory is gone)."""
    broken = create_engine(f"sqlite:///{tmp_path / 'gone' / 'siyu.sqlite3'}")
    monkeypatch.setattr(api.runtime.db, "engine", broken)
    assert_down(api, "database")
    monkeypatch.undo()
    broken.dispose()
    assert_ready(api)


@pytest.mark.server
def test_readyz_names_postgresql_when_it_refuses_connections(tmp_path: Path) -> None:
    """The database stops accepting connections and the open ones are ended (as in a failover or a
    maintenance window); readiness comes back with the database."""
    with postgres_database() as url, open_api(make_settings(tmp_path, database_url=url)) as api:
        assert_ready(api)
        name = url.rsplit("/", 1)[1]
        admin = service_url("POSTGRES").replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            try:
                assert_down(api, "database")
            finally:
                conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert_ready(api)


def test_readyz_names_the_embedded_bus_when_its_file_cannot_be_opened(api: Api, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api.runtime.bus, "path", tmp_path / "gone" / "bus.sqlite3")
    assert_down(api, "bus")
    monkeypatch.undo()
    assert_ready(api)


def _rabbitmqctl(*args: str) -> None:
    out = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture
def rabbit_user() -> Iterator[tuple[str, str]]:
    """A RabbitMQ user of this test's own (so taking it away touches no one else's connections)."""
    base = service_url("AMQP")
    user, password = f"siyu-t-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    _rabbitmqctl("add_user", user, password)
    _rabbitmqctl("set_permissions", "-p", "/", user, ".*", ".*", ".*")
    try:
        yield user, base.replace("guest:guest@", f"{user}:{password}@")
    finally:
        subprocess.run(["rabbitmqctl", "delete_user", user], capture_output=True, timeout=120)


@pytest.mark.server
def test_readyz_names_rabbitmq_when_the_broker_drops_the_connection(tmp_path: Path,
                                                                    rabbit_user: tuple[str, str]) -> None:
    """The broker closes the server's connection and refuses it back (its user is removed); readiness
    comes back once the broker takes the connection again."""
    user, url = rabbit_user
    namespace = rabbit_namespace()
    settings = make_settings(tmp_path, bus_url=url, bus_namespace=namespace)
    try:
        with open_api(settings) as api:
            assert_ready(api)
            password = url.split(":", 2)[2].split("@", 1)[0]
            _rabbitmqctl("delete_user", user)
            assert_down(api, "bus")
            _rabbitmqctl("add_user", user, password)
            _rabbitmqctl("set_permissions", "-p", "/", user, ".*", ".*", ".*")
            deadline = time.monotonic() + 60  # the connection is re-established every few seconds
            while ready(api)[0] != 200 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert_ready(api)
    finally:
        delete_rabbit_namespace(service_url("AMQP"), namespace)


@pytest.mark.parametrize("store", ["duckdb", "chdb"])
def test_readyz_names_the_event_store_when_it_is_closed(store: str, tmp_path: Path) -> None:
    url = f"chdb://{tmp_path / 'chdb'}" if store == "chdb" else ""
    with open_api(make_settings(tmp_path, warehouse_url=url)) as api:
        assert_ready(api)
        api.runtime.warehouse.close()
        assert_down(api, "warehouse")


def test_metrics_count_accepted_rejected_and_deduplicated_events_and_the_bus_depth(api: Api) -> None:
    """Counters are process-wide (other tests in this process count too): what is checked is how much they
    moved."""
    before = samples(api)
    first = [msg("track", anonymousId=f"m-{i}") for i in range(5)]
    headers = basic(api.keys["web"])
    assert api.client.post("/v1/batch", json={"batch": first}, headers=headers).json()["accepted"] == 5
    partly = [msg("track", anonymousId="m-9"), {**msg("track", anonymousId="m-9"), "event": ""},
              msg("page", anonymousId="m-9")]
    r = api.client.post("/v1/batch", json={"batch": partly}, headers=headers)
    assert r.status_code == 200 and r.json()["accepted"] == 2 and len(r.json()["rejected"]) == 1
    assert api.client.post("/v1/batch", json={"batch": first}, headers=headers).status_code == 200  # a retry
    queued = samples(api)
    assert value(queued, "siyu_events_accepted_total", channel="web") \
        - value(before, "siyu_events_accepted_total", channel="web") == 12
    assert value(queued, "siyu_events_rejected_total", code="missing_event") \
        - value(before, "siyu_events_rejected_total", code="missing_event") == 1
    assert value(queued, "siyu_bus_depth", group="warehouse") == 3  # one bus message per request
    assert value(queued, "siyu_bus_depth", group="identity") == 3

    api.drain()
    after = samples(api)
    assert value(after, "siyu_events_stored_total") - value(before, "siyu_events_stored_total") == 7
    assert value(after, "siyu_events_deduplicated_total") - value(before, "siyu_events_deduplicated_total") == 5
    depths = {dict(labels)["group"]: v for (name, labels), v in after.items() if name == "siyu_bus_depth"}
    assert {"warehouse", "identity"} <= set(depths) and set(depths.values()) == {0}
