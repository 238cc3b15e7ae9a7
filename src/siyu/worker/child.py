"""``siyu serve``'s worker as a child process owning a single-process event store (DuckDB, chdb).

The child runs ``siyu worker --query-socket PATH --release-leases``; the API process reaches its store
through :class:`~siyu.warehouse.remote.RemoteWarehouse`. The child dies with its parent (Linux
``PR_SET_PDEATHSIG``) and is started again if it exits on its own.
"""

from __future__ import annotations

import ctypes
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from siyu.config import Settings
from siyu.warehouse.factory import query_key_path
from siyu.warehouse.remote import RemoteWarehouse

log = logging.getLogger("siyu.worker.child")
AUTHKEY_ENV = "SIYU_QUERY_AUTHKEY"


def _die_with_parent() -> None:
    with_libc = ctypes.CDLL(None, use_errno=True)
    with_libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    # The API is served first: on a small machine the worker yields the CPU to requests (latency), and
    # catches up in the gaps (its batches grow, so its throughput per event improves).
    os.nice(5)


class WorkerChild:
    def __init__(self, settings: Settings) -> None:
        self.socket = Path(settings.data_dir).resolve() / "warehouse.sock"
        self.authkey = secrets.token_bytes(32)
        self.dialect = "duckdb" if settings.resolved_warehouse_url().startswith("duckdb") else "clickhouse"
        self.remote = RemoteWarehouse(self.socket, self.authkey, self.dialect)
        # Local tools (siyu report) reach the store through the same socket while the server runs.
        key = query_key_path(settings)
        settings.ensure_data_dir()
        key.touch(mode=0o600, exist_ok=True)
        key.chmod(0o600)
        key.write_text(self.authkey.hex())
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # a restart and stop() one at a time: stop() never misses a new child
        self._watcher = threading.Thread(target=self._watch, name="siyu-worker-child", daemon=True)

    def new_remote(self) -> RemoteWarehouse:
        """A client of the worker's store of its own (one per API process: connections are not shared
        across a fork)."""
        return RemoteWarehouse(self.socket, self.authkey, self.dialect)

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, AUTHKEY_ENV: self.authkey.hex()}
        args = [sys.executable, "-m", "siyu", "worker", "--query-socket", str(self.socket), "--release-leases"]
        preexec = _die_with_parent if sys.platform.startswith("linux") else None
        return subprocess.Popen(args, env=env, preexec_fn=preexec)

    def start(self, timeout_s: float = 120.0) -> None:
        self._proc = self._spawn()
        deadline = time.monotonic() + timeout_s
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the worker process exited with code {self._proc.returncode}")
            try:
                self.remote.ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            with self._lock:
                proc = self._proc
                if proc is not None and proc.poll() is not None and not self._stopping.is_set():
                    log.error("worker process exited; starting it again", extra={"code": proc.returncode})
                    self._proc = self._spawn()

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.remote.close()
