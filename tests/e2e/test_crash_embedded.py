"""Crash safety on the embedded runtime (SQLite bus file, DuckDB event store), against live processes.

Each test sends a 200,000-event stream as 100-event batches over HTTP, kills a process with SIGKILL in
the middle, restarts it, and checks that every event answered 200 is in the store exactly once. The
client behaves like the Segment clients: it sends a batch again (same messageIds) after an error answer
or a broken connection, until it is answered 200.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import (
    EventStream,
    LiveServer,
    assert_exactly_once,
    base_env,
    cli,
    duckdb_event_keys,
    kill_while_leased,
    query,
    sqlite_bus_pending,
    start_server,
    start_worker,
    wait_for_count,
)

pytestmark = pytest.mark.slow

TOTAL = 200_000


def _wait_drained(bus_path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while (pending := sqlite_bus_pending(bus_path)[0]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pending == 0, f"{pending} messages still on the bus"


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    return proc.wait(60)


def test_kill_9_the_worker_mid_stream(tmp_path: Path) -> None:
    """`siyu serve --no-worker` takes the stream while a separate `siyu worker` (the only process that
    opens the DuckDB file; both share the bus file) is killed with SIGKILL holding a batch, and started
    again later. The server keeps answering 200 while no worker runs. The killed worker's lease runs out
    (SIYU_BUS_LEASE_S=3) and its batch is delivered again to the new worker; the DuckDB key table drops
    what was already stored. The store is checked by opening the DuckDB file once the worker is stopped."""
    data = tmp_path / "data"
    env = base_env(data, SIYU_BUS_LEASE_S="3")
    key = cli(env, "sources", "create", "--channel", "server", "--name", "crash")["write_key"]
    bus_path = data / "bus.sqlite3"
    server = LiveServer(env, worker_in_server=False, log_path=tmp_path / "serve.log")
    start_server(server)
    workers = [start_worker(env, tmp_path / "worker-1.log")]
    stream = EventStream(server.url, key, TOTAL)
    try:
        stream.start()
        stream.wait_acked(TOTAL // 4)
        leased = kill_while_leased(bus_path, lambda: os.killpg(workers[0].pid, signal.SIGKILL))
        assert workers[0].wait(30) == -signal.SIGKILL
        at_kill = stream.acked_count
        assert at_kill < TOTAL and leased > 0
        stream.wait_acked(min(TOTAL, at_kill + TOTAL // 4))  # no worker, and the API still says 200
        workers.append(start_worker(env, tmp_path / "worker-2.log"))
        acked = stream.join(timeout=240)
        _wait_drained(bus_path)
        assert _stop(workers[1]) == 0
        assert_exactly_once(duckdb_event_keys(data / "events.duckdb"), acked)
    finally:
        stream.stop()
        server.stop()
        for w in workers:
            _stop(w, signal.SIGKILL)


def test_kill_9_the_whole_server_mid_stream(tmp_path: Path) -> None:
    """`siyu serve` (API and worker in one process) is killed with SIGKILL while its worker holds a
    batch, then started again on the same data directory and port. Requests in flight at the kill fail
    and the client sends them again; batches answered 200 before the kill are on the bus file already.
    At start-up the server takes back the killed worker's lease; what that batch had stored is dropped
    as a duplicate."""
    data = tmp_path / "data"
    env = base_env(data)
    key = cli(env, "sources", "create", "--channel", "server", "--name", "crash")["write_key"]
    token = cli(env, "tokens", "create")["token"]
    server = LiveServer(env, log_path=tmp_path / "serve.log")
    start_server(server)
    stream = EventStream(server.url, key, TOTAL)
    try:
        stream.start()
        stream.wait_acked(TOTAL // 3)
        kill_while_leased(data / "bus.sqlite3", server.kill)
        at_kill = stream.acked_count
        assert at_kill < TOTAL
        start_server(server)
        acked = stream.join(timeout=240)
        assert sum(n for answer, n in stream.answers.items() if answer != 200) > 0  # the kill was felt
        assert wait_for_count(server.url, token, TOTAL, timeout=120) == TOTAL
        keys = [(str(s), str(m)) for s, m in query(server.url, token, "SELECT source_id, message_id FROM events")]
        assert_exactly_once(keys, acked)
    finally:
        stream.stop()
        server.stop()
