"""Helpers for tests: service URLs, isolated PostgreSQL databases and RabbitMQ namespaces, live servers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
SIYU = Path(sys.executable).parent / "siyu"
REQUIRE = os.environ.get("SIYU_TEST_REQUIRE_SERVICES") == "1"


def service_url(name: str) -> str:
    """The URL of a server-runtime service for tests, or skip (fail in CI) when it is not configured."""
    url = os.environ.get(f"SIYU_TEST_{name}_URL", "")
    if not url:
        if REQUIRE:
            pytest.fail(f"SIYU_TEST_{name}_URL is not set but SIYU_TEST_REQUIRE_SERVICES=1")
        pytest.skip(f"SIYU_TEST_{name}_URL not set")
    return url


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; dropped afterwards."""
    import psycopg

    base = service_url("POSTGRES")
    name = f"siyu_t_{uuid.uuid4().hex[:12]}"
    admin = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rabbit_namespace() -> str:
    return f"siyu-t-{uuid.uuid4().hex[:10]}"


def delete_rabbit_namespace(url: str, namespace: str, groups: tuple[str, ...] = ("warehouse",)) -> None:
    import asyncio

    import aio_pika

    async def _go() -> None:
        conn = await aio_pika.connect(url)
        ch = await conn.channel()
        for q in [f"{namespace}.{g}" for g in groups] + [f"{namespace}.dead"]:
            with contextlib.suppress(Exception):
                await ch.queue_delete(q)
                ch = await conn.channel()
        for ex in (namespace, f"{namespace}.dead"):
            with contextlib.suppress(Exception):
                await ch.exchange_delete(ex)
                ch = await conn.channel()
        await conn.close()

    asyncio.run(_go())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> Any:
    """Run ``siyu ARGS --json`` and parse its output."""
    out = subprocess.run([str(SIYU), *args, "--json"], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@dataclass
class LiveServer:
    """A ``siyu serve`` process (and optionally separate ``siyu worker`` processes)."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    worker_in_server: bool = True
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        assert self.log_path is not None
        args = [str(SIYU), "serve", "--port", str(self.port)]
        if not self.worker_in_server:
            args.append("--no-worker")
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready: {self.log_path.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


def spawn_worker(env: dict[str, str], log_path: Path, consumers: int = 1) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115
    return subprocess.Popen([str(SIYU), "worker", "--consumers", str(consumers)], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def base_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_") or k.startswith("SIYU_TEST_")}
    env.update({"SIYU_DATA_DIR": str(data_dir), "SIYU_LOG_JSON": "true", "SIYU_WORKER_BATCH_WAIT_MS": "50"})
    env.update(overrides)
    return env


def query(server_url: str, token: str, sql: str) -> list[list[Any]]:
    r = httpx.post(server_url + "/api/v1/query", json={"sql": sql, "max_rows": 1_000_000},
                   headers={"Authorization": f"Bearer {token}"}, timeout=120)
    assert r.status_code == 200, r.text
    rows: list[list[Any]] = r.json()["rows"]
    return rows


def wait_for_count(server_url: str, token: str, expected: int, timeout: float = 120,
                   where: str = "true") -> int:
    """Poll the event store until it holds ``expected`` rows (or time out); returns the last count."""
    deadline = time.monotonic() + timeout
    n = -1
    while time.monotonic() < deadline:
        n = int(query(server_url, token, f"SELECT count(*) FROM events WHERE {where}")[0][0])
        if n >= expected:
            # give a straggling duplicate the chance to show up
            time.sleep(0.5)
            return int(query(server_url, token, f"SELECT count(*) FROM events WHERE {where}")[0][0])
        time.sleep(0.2)
    return n
