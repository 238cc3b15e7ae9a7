"""The event store in another process of the same machine.

DuckDB (and chdb) allow one process per file. On the embedded runtime ``siyu serve`` therefore runs the
worker as a child process that owns the file, and the API process reaches it for the query API and
readiness through a Unix socket (``multiprocessing.connection``, authenticated with a per-start key).
This keeps the worker's CPU work off the API's event loop.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from collections.abc import Sequence
from datetime import datetime
from multiprocessing.connection import Connection, Listener, answer_challenge, deliver_challenge
from pathlib import Path
from typing import Any

from siyu.errors import SiyuError
from siyu.warehouse.base import Link, QueryResult, Staged, Warehouse, WarehouseUnavailable, WriteResult

log = logging.getLogger("siyu.warehouse.remote")
PING_TIMEOUT_S = 3.0  # under /readyz's 5 s per check
QUERY_MARGIN_S = 5.0
STALL_S = 3.0  # the longest a connection's read or write may wait (handshake, the rest of a started answer)


class QueryServer(threading.Thread):
    """Answers ``("query", sql, max_rows, timeout_s)`` and ``("ping",)`` for a local warehouse."""

    def __init__(self, warehouse: Warehouse, path: Path, authkey: bytes) -> None:
        super().__init__(name="siyu-query-server", daemon=True)
        path.unlink(missing_ok=True)
        self.warehouse = warehouse
        self.listener = Listener(str(path), family="AF_UNIX", authkey=authkey)
        self._closed = threading.Event()

    def run(self) -> None:
        while True:
            try:
                conn = self.listener.accept()
            except Exception:
                if self._closed.is_set():
                    return
                # A client that failed the handshake, or left during it (one that gave up waiting while this
                # process was stopped, say: its connection waited in the backlog): the next one is served.
                self._closed.wait(0.01)
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        with conn:
            while True:
                try:
                    request = conn.recv()
                except (EOFError, OSError):
                    return
                answer = self._answer(request)
                try:
                    conn.send(answer)
                except OSError:  # the client stopped waiting (see RemoteWarehouse._call) and went away
                    return

    def _answer(self, request: tuple[Any, ...]) -> tuple[Any, ...]:
        try:
            if request[0] == "query":
                return ("ok", self.warehouse.query(request[1], request[2], request[3]))
            if request[0] == "ping":
                self.warehouse.ping()
                return ("ok", None)
            if request[0] == "metrics":
                from prometheus_client import generate_latest

                return ("ok", generate_latest())
            return ("error", "bad_request", 400, "unknown request", None)
        except SiyuError as err:
            return ("error", err.code, err.status, err.message, err.details)
        except Exception as exc:
            log.exception("query server error")
            return ("error", "query_failed", 400, str(exc).split("\n")[0][:500], None)

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(Exception):
            self.listener.close()


class RemoteWarehouse(Warehouse):
    name = "remote"

    def __init__(self, path: Path, authkey: bytes, dialect: str = "duckdb") -> None:
        self.dialect = dialect
        self.path = path
        self.authkey = authkey
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    def _call(self, request: tuple[Any, ...], timeout_s: float) -> Any:
        """Send ``request`` and wait at most ``timeout_s`` for the answer. A process that does not answer (stopped,
        or stuck) is unavailable: the caller's thread is not held for ever, and the connection, which may still
        receive the late answer, is dropped. A kept connection found broken (the owner was restarted since) is
        replaced once: every request is a read."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        while True:
            kept = conn is not None
            try:
                if conn is None:
                    conn = self._connect()
                conn.send(request)
                if not conn.poll(timeout_s):
                    conn.close()
                    raise WarehouseUnavailable(
                        details={"reason": f"event store process: no answer within {timeout_s:g} s"})
                answer = conn.recv()
                break
            except (OSError, EOFError) as exc:
                if conn is not None:
                    conn.close()
                    conn = None
                if not kept:
                    raise WarehouseUnavailable(details={"reason": f"event store process: {exc!r}"}) from exc
        with self._lock:
            self._idle.append(conn)
        if answer[0] == "ok":
            return answer[1]
        _, code, status, message, details = answer
        raise SiyuError(message, code=code, status=status, details=details)

    def _connect(self) -> Connection:
        """``multiprocessing.connection.Client`` with a limit on every read and write of the socket, so a
        stopped owner cannot hold the caller in the handshake either (a Unix socket's backlog accepts the
        connection without the owner)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            stall = struct.pack("ll", int(STALL_S), int(STALL_S % 1 * 1_000_000))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, stall)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, stall)
            sock.connect(str(self.path))
        except BaseException:
            sock.close()
            raise
        conn = Connection(sock.detach())
        try:
            answer_challenge(conn, self.authkey)
            deliver_challenge(conn, self.authkey)
        except BaseException:
            conn.close()
            raise
        return conn

    def query(self, sql: str, max_rows: int, timeout_s: float) -> QueryResult:
        # The owner stops the query after timeout_s; the margin covers its queue and the answer's transfer.
        result: QueryResult = self._call(("query", sql, max_rows, timeout_s), timeout_s + QUERY_MARGIN_S)
        return result

    def ping(self) -> None:
        self._call(("ping",), PING_TIMEOUT_S)

    def metrics(self) -> bytes:
        """The owning process's Prometheus exposition (its worker counters)."""
        data: bytes = self._call(("metrics",), PING_TIMEOUT_S)
        return data

    def migrate(self) -> None:
        """The owning process migrates."""

    def commit(self, staged: Staged) -> WriteResult:
        raise WarehouseUnavailable("Events are written by the worker process that owns the store.")

    def prune_dedup(self, older_than: datetime) -> int:
        return 0

    def write_links(self, links: Sequence[Link]) -> None:
        raise WarehouseUnavailable("Identity links are written by the worker process that owns the store.")

    def links_seq(self) -> int:
        raise WarehouseUnavailable("Identity links are written by the worker process that owns the store.")

    def close(self) -> None:
        with self._lock:
            for conn in self._idle:
                conn.close()
            self._idle.clear()
