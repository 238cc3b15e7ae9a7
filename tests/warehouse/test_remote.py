"""The event store of another process (``siyu serve``'s worker child) through its query socket: answers, and
a bounded wait when that process does not answer (stopped with SIGSTOP, or stuck)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from siyu.errors import SiyuError
from siyu.warehouse import remote
from siyu.warehouse.base import Warehouse, WarehouseUnavailable
from siyu.warehouse.remote import QueryServer, RemoteWarehouse
from tests.warehouse.conftest import open_warehouse

KEY = b"k" * 32


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Warehouse, QueryServer, Path]]:
    wh = open_warehouse("duckdb", tmp_path)
    path = tmp_path / "warehouse.sock"
    server = QueryServer(wh, path, KEY)
    server.start()
    try:
        yield wh, server, path
    finally:
        server.close()
        wh.close()


def within(seconds: float, call: Callable[[], object]) -> BaseException | None:
    """Run ``call`` in a thread; fail unless it returns or raises within ``seconds``. Returns what it raised."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            raised.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still waiting after {seconds} s"
    return raised[0] if raised else None


def test_queries_pings_and_errors_go_through(served: tuple[Warehouse, QueryServer, Path]) -> None:
    _, _, path = served
    client = RemoteWarehouse(path, KEY)
    try:
        client.ping()
        assert client.query("SELECT 41 + 1 AS n", 10, 5).rows == [[42]]
        with pytest.raises(SiyuError) as err:
            client.query("DELETE FROM event_rows", 10, 5)
        assert err.value.code == "query_not_read_only"
    finally:
        client.close()


def test_a_process_that_stops_answering_is_unavailable_within_the_ping_timeout(
    served: tuple[Warehouse, QueryServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner accepted the request but does not answer: the caller gets WarehouseUnavailable after the
    ping timeout, not a thread blocked until the owner comes back (a readiness probe every few seconds
    would otherwise use up the API's threads)."""
    wh, _, path = served
    monkeypatch.setattr(remote, "PING_TIMEOUT_S", 0.5)
    client = RemoteWarehouse(path, KEY)
    stuck = threading.Event()
    monkeypatch.setattr(wh, "ping", lambda: stuck.wait(30))
    try:
        started = time.monotonic()
        assert isinstance(within(10, client.ping), WarehouseUnavailable)
        assert time.monotonic() - started < 5
        stuck.set()
        monkeypatch.undo()
        client.ping()  # and a fresh connection works again
    finally:
        stuck.set()
        client.close()


def test_a_client_that_leaves_during_the_handshake_does_not_stop_the_server(
    served: tuple[Warehouse, QueryServer, Path]
) -> None:
    """Clients that gave up while the owner was stopped left their connections in its backlog; once it runs
    again, the handshakes with them fail, and the server goes on serving the others."""
    _, _, path = served
    for _ in range(3):
        gone = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        gone.connect(str(path))
        gone.close()
    client = RemoteWarehouse(path, KEY)
    try:
        time.sleep(0.2)
        assert within(10, client.ping) is None
    finally:
        client.close()


def test_a_process_that_never_answers_the_handshake_is_unavailable(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A stopped process's socket still takes connections (into its backlog); the handshake is bounded too."""
    monkeypatch.setattr(remote, "STALL_S", 0.5)
    path = tmp_path / "warehouse.sock"
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(str(path))
    mute.listen(8)  # and never accepts
    client = RemoteWarehouse(path, KEY)
    try:
        assert isinstance(within(10, client.ping), WarehouseUnavailable)
        assert isinstance(within(10, lambda: client.query("SELECT 1", 10, 0.5)), WarehouseUnavailable)
    finally:
        client.close()
        mute.close()


SERVE = """
import sys, time
from pathlib import Path
from siyu.warehouse.duckdb import DuckDBWarehouse
from siyu.warehouse.remote import QueryServer
wh = DuckDBWarehouse(Path(sys.argv[1]))
wh.migrate()
QueryServer(wh, Path(sys.argv[2]), b"k" * 32).start()
print("ready", flush=True)
time.sleep(600)
"""


def test_a_kept_connection_to_a_restarted_process_is_replaced(tmp_path: Path) -> None:
    """The worker child was killed and started again (a new socket at the same path): the first call after the
    restart answers, on a new connection, instead of failing on the kept one."""
    path = tmp_path / "warehouse.sock"
    client = RemoteWarehouse(path, KEY)
    try:
        for run in range(2):
            proc = subprocess.Popen([sys.executable, "-c", SERVE, str(tmp_path / f"events-{run}.duckdb"), str(path)],
                                    stdout=subprocess.PIPE)
            try:
                assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
                assert client.query("SELECT 1", 10, 5).rows == [[1]]
            finally:
                proc.kill()
                proc.wait(30)
                assert proc.stdout is not None
                proc.stdout.close()
    finally:
        client.close()
