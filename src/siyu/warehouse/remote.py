"""The event store in another process of the same machine.

DuckDB (and chdb) allow one process per file. On the embedded runtime ``siyu serve`` therefore runs the
worker as a child process that owns the file, and the API process reaches it for the query API and
readiness through a Unix socket (``multiprocessing.connection``, authenticated with a per-start key).
This keeps the worker's CPU work off the API's event loop.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from siyu.errors import SiyuError
from siyu.warehouse.base import Link, QueryResult, Staged, Warehouse, WarehouseUnavailable, WriteResult

log = logging.getLogger("siyu.warehouse.remote")


class QueryServer(threading.Thread):
    """Answers ``("query", sql, max_rows, timeout_s)`` and ``("ping",)`` for a local warehouse."""

    def __init__(self, warehouse: Warehouse, path: Path, authkey: bytes) -> None:
        super().__init__(name="siyu-query-server", daemon=True)
        path.unlink(missing_ok=True)
        self.warehouse = warehouse
        self.listener = Listener(str(path), family="AF_UNIX", authkey=authkey)

    def run(self) -> None:
        while True:
            try:
                conn = self.listener.accept()
            except OSError:
                return  # closed
            except Exception:  # a client that failed the handshake
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        with conn:
            while True:
                try:
                    request = conn.recv()
                except (EOFError, OSError):
                    return
                conn.send(self._answer(request))

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

    def _call(self, request: tuple[Any, ...]) -> Any:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        try:
            if conn is None:
                conn = Client(str(self.path), family="AF_UNIX", authkey=self.authkey)
            conn.send(request)
            answer = conn.recv()
        except (OSError, EOFError) as exc:
            if conn is not None:
                conn.close()
            raise WarehouseUnavailable(details={"reason": f"event store process: {exc!r}"}) from exc
        with self._lock:
            self._idle.append(conn)
        if answer[0] == "ok":
            return answer[1]
        _, code, status, message, details = answer
        raise SiyuError(message, code=code, status=status, details=details)

    def query(self, sql: str, max_rows: int, timeout_s: float) -> QueryResult:
        result: QueryResult = self._call(("query", sql, max_rows, timeout_s))
        return result

    def ping(self) -> None:
        self._call(("ping",))

    def metrics(self) -> bytes:
        """The owning process's Prometheus exposition (its worker counters)."""
        data: bytes = self._call(("metrics",))
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
