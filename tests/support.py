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
from collections.abc import Callable, Iterator
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


def delete_rabbit_namespace(url: str, namespace: str, groups: tuple[str, ...] | None = None) -> None:
    """Delete a test's RabbitMQ queues and exchanges (every consumer group's, unless ``groups`` is given)."""
    import asyncio

    import aio_pika

    if groups is None:
        from siyu.outbox.domain import handlers

        groups = ("warehouse", "identity", *(h.group for h in handlers()))

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
    processes: int = 1  # `--processes N`: API processes sharing the port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        assert self.log_path is not None
        args = [str(SIYU), "serve", "--port", str(self.port)]
        if not self.worker_in_server:
            args.append("--no-worker")
        if self.processes > 1:
            args += ["--processes", str(self.processes)]
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
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


def child_processes(pid: int) -> dict[int, str]:
    """The live children of process ``pid``: pid -> command line (Linux /proc)."""
    out: dict[int, str] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
                state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                out[child] = cmdline.replace(b"\0", b" ").decode()
    return out


def worker_child(server: LiveServer, other_than: int | None = None, timeout: float = 60) -> int:
    """The pid of ``siyu serve``'s worker child process (one that is not ``other_than``), waiting for it."""
    assert server.proc is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [pid for pid, cmd in child_processes(server.proc.pid).items()
                 if " worker " in cmd and pid != other_than]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no worker child of {server.proc.pid}")


def kill_while_leased(bus_path: Path, kill: Callable[[], object], timeout: float = 20) -> int:
    """Call ``kill`` as soon as the worker holds a leased (fetched, unacknowledged) batch, so the kill lands
    between taking messages and acknowledging them. Returns how many messages were leased."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, leased = sqlite_bus_pending(bus_path)
        if leased:
            kill()
            return leased
        time.sleep(0.005)
    raise AssertionError("the worker never held a batch")


def spawn_worker(env: dict[str, str], log_path: Path, consumers: int = 1) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:  # the child keeps its own descriptor
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


class EventStream:
    """A tracking client for crash tests: sends ``total`` track events with unique messageIds as
    ``batch``-event requests to ``/v1/batch`` over ``connections`` keep-alive connections (one thread
    each), and, like a real client, sends a batch again (same messageIds) after any answer other than
    200 or a connection error, until it is answered 200. ``acked`` holds every messageId answered 200.
    ``pace_s`` spaces each connection's requests at least that far apart, so that a stream outlasts what
    a test does in its middle (a fast server would otherwise take the whole stream first).
    """

    def __init__(self, url: str, write_key: str, total: int, *, batch: int = 100, connections: int = 4,
                 prefix: str = "", deadline_s: float = 300.0, pace_s: float = 0.0) -> None:
        import base64
        import threading
        from collections import Counter

        self.url = url
        self.total = total
        self.batch = batch
        self.connections = connections
        self.pace_s = pace_s
        self.prefix = prefix or uuid.uuid4().hex[:8]
        self.deadline = time.monotonic() + deadline_s
        self.auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
        self.acked: set[str] = set()
        self.answers: Counter[int | str] = Counter()  # status code, or the connection error's name
        self.failure: str | None = None
        self._lock = threading.Lock()
        self._next = 0
        self._threads = [threading.Thread(target=self._run, name=f"stream-{i}", daemon=True)
                         for i in range(connections)]

    def message_id(self, i: int) -> str:
        return f"{self.prefix}-{i:07d}"

    def _body(self, start: int) -> bytes:
        items = [{"type": "track", "event": "Order Completed", "userId": f"u{i % 997}",
                  "messageId": self.message_id(i),
                  "properties": {"order_id": f"o{i}", "revenue": i % 10_000, "currency": "CNY"}}
                 for i in range(start, min(start + self.batch, self.total))]
        return json.dumps({"batch": items}).encode()

    def _take(self) -> int | None:
        with self._lock:
            if self._next >= self.total:
                return None
            start, self._next = self._next, self._next + self.batch
            return start

    def _run(self) -> None:
        headers = {"Authorization": self.auth, "Content-Type": "application/json"}
        with httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0)) as client:
            while (start := self._take()) is not None:
                if self.pace_s:
                    time.sleep(self.pace_s)
                body = self._body(start)
                ids = [self.message_id(i) for i in range(start, min(start + self.batch, self.total))]
                delay = 0.02
                while True:
                    if time.monotonic() > self.deadline or self.failure:
                        self.failure = self.failure or f"gave up on batch {start}: {self.answers}"
                        return
                    try:
                        r = client.post(self.url + "/v1/batch", content=body, headers=headers)
                    except httpx.HTTPError as exc:
                        with self._lock:
                            self.answers[type(exc).__name__] += 1
                    else:
                        with self._lock:
                            self.answers[r.status_code] += 1
                        if r.status_code == 200:
                            if r.json().get("accepted") != len(ids):
                                self.failure = f"batch {start} only partly accepted: {r.text[:300]}"
                                return
                            with self._lock:
                                self.acked.update(ids)
                            break
                        if r.status_code < 500 and r.status_code not in (408, 429):
                            self.failure = f"batch {start} refused: {r.status_code} {r.text[:300]}"
                            return
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)

    def start(self) -> EventStream:
        for t in self._threads:
            t.start()
        return self

    @property
    def acked_count(self) -> int:
        with self._lock:
            return len(self.acked)

    def wait_acked(self, n: int, timeout: float = 120) -> None:
        """Wait until at least ``n`` events were answered 200."""
        deadline = time.monotonic() + timeout
        while self.acked_count < n:
            assert self.failure is None, self.failure
            assert time.monotonic() < deadline, f"only {self.acked_count} of {n} acknowledged: {self.answers}"
            time.sleep(0.02)

    def join(self, timeout: float = 300) -> set[str]:
        """Wait for the whole stream; returns the acknowledged messageIds (all of them, or it fails)."""
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self._threads), f"stream not finished: {self.answers}"
        assert self.failure is None, self.failure
        with self._lock:
            assert len(self.acked) == self.total, (len(self.acked), self.answers)
            return set(self.acked)

    def stop(self) -> None:
        """End the sending threads (for a test's cleanup; the stream then counts as failed)."""
        self.failure = self.failure or "stopped"
        for t in self._threads:
            if t.is_alive():
                t.join(40)


def sqlite_bus_pending(path: Path, group: str = "warehouse") -> tuple[int, int]:
    """(messages waiting or in flight, of which leased to a consumer now) for a group of an embedded bus."""
    import sqlite3

    conn = sqlite3.connect(path, timeout=30)
    try:
        total, leased = conn.execute(
            "SELECT count(*), coalesce(sum(visible_at > ?), 0) FROM bus_queue WHERE grp = ?", (time.time(), group)
        ).fetchone()
        return int(total), int(leased)
    finally:
        conn.close()


def duckdb_event_keys(path: Path) -> list[tuple[str, str]]:
    """Every (source_id, message_id) row of a DuckDB event store; the file must not be open elsewhere."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        return [(str(s), str(m)) for s, m in con.execute("SELECT source_id, message_id FROM events").fetchall()]
    finally:
        con.close()


def assert_exactly_once(keys: list[tuple[str, str]], acked: set[str]) -> None:
    """The store holds every acknowledged messageId, each once, and nothing else."""
    assert len(keys) == len(set(keys)), f"{len(keys) - len(set(keys))} duplicate (source_id, message_id) rows"
    stored = {m for _, m in keys}
    missing = acked - stored
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    extra = stored - acked
    assert not extra, f"{len(extra)} events stored that were never sent, e.g. {sorted(extra)[:5]}"
    assert len(keys) == len(acked)


def rabbitmqctl(*args: str, timeout: float = 120) -> str:
    out = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def rabbit_queue_messages(queue: str, column: str = "messages") -> int:
    """Messages in a queue: ready and unacknowledged (``messages``), or one of ``messages_ready`` and
    ``messages_unacknowledged`` (taken by a consumer and not acknowledged yet)."""
    for line in rabbitmqctl("list_queues", "-q", "--no-table-headers", "name", column).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == queue:
            return int(parts[1])
    raise AssertionError(f"no queue {queue}")


def start_server(server: LiveServer, timeout: float = 60) -> None:
    """``server.start()`` without the ResourceWarning (an error under this suite's warning filters) for
    the log file object that ``start`` leaves to the garbage collector; the server process keeps its own
    descriptor, and the object is closed when it is collected."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        server.start(timeout)


def start_worker(env: dict[str, str], log_path: Path, consumers: int = 1) -> subprocess.Popen[bytes]:
    """Like ``spawn_worker``, closing this process's copy of the log file."""
    with open(log_path, "ab") as log:
        return subprocess.Popen([str(SIYU), "worker", "--consumers", str(consumers)], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
