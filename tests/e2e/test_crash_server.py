"""Crash safety on the server runtime (PostgreSQL, RabbitMQ), against live processes.

As in test_crash_embedded.py: a 200,000-event stream as 100-event batches over HTTP, a failure in the
middle, and then every event answered 200 must be in the store exactly once; the client sends a batch
again (same messageIds) after an error answer or a broken connection.

The event store here is an in-process engine (chdb or a DuckDB file; a ClickHouse server is not part of
the test services), which one process at a time may open. So with the worker inside `siyu serve` the
store is checked through the query API, and with a separate `siyu worker` process the store is checked by
opening it in the test once that worker has stopped. Several `siyu worker` processes in parallel need a
shared store (a ClickHouse server); parallel consumers are covered inside one process
(``--consumers``, and tests/worker).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import (
    EventStream,
    LiveServer,
    assert_exactly_once,
    base_env,
    cli,
    delete_rabbit_namespace,
    duckdb_event_keys,
    postgres_database,
    query,
    rabbit_namespace,
    rabbit_queue_messages,
    rabbitmqctl,
    service_url,
    start_server,
    start_worker,
    wait_for_count,
)

pytestmark = [pytest.mark.slow, pytest.mark.server]

TOTAL = 200_000


@pytest.fixture
def server_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for the server runtime: a fresh PostgreSQL database and a fresh RabbitMQ namespace."""
    amqp = service_url("AMQP")
    namespace = rabbit_namespace()
    with postgres_database() as db_url:
        env = base_env(tmp_path / "data", SIYU_DATABASE_URL=db_url, SIYU_BUS_URL=amqp,
                       SIYU_BUS_NAMESPACE=namespace)
        try:
            yield env
        finally:
            _ensure_rabbit_running()
            delete_rabbit_namespace(amqp, namespace)


def _ensure_rabbit_running() -> None:
    rabbitmqctl("start_app")  # a no-op when it runs
    rabbitmqctl("await_startup", timeout=180)


def _wait_until(condition: object, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


def test_rabbitmq_restarted_mid_stream(server_env: dict[str, str], tmp_path: Path) -> None:
    """RabbitMQ is stopped (`rabbitmqctl stop_app`) in the middle of the stream and started again. While
    it is down the API answers 503 (nothing is answered 200 that the broker did not confirm) and the
    client retries; the server's connection comes back by itself; what the worker (inside `siyu serve`,
    writing to chdb) had not acknowledged is delivered again and collapsed by the store."""
    data = Path(server_env["SIYU_DATA_DIR"])
    env = {**server_env, "SIYU_WAREHOUSE_URL": f"chdb://{data / 'chdb'}"}
    key = cli(env, "sources", "create", "--channel", "server", "--name", "crash")["write_key"]
    token = cli(env, "tokens", "create")["token"]
    server = LiveServer(env, log_path=tmp_path / "serve.log")
    start_server(server)
    stream = EventStream(server.url, key, TOTAL)
    try:
        stream.start()
        stream.wait_acked(TOTAL // 4)
        rabbitmqctl("stop_app")
        try:
            refused = stream.answers[503]
            _wait_until(lambda: stream.answers[503] > refused, 60, f"no 503 while RabbitMQ was down: "
                                                                    f"{stream.answers}")
            at_restart = stream.acked_count
            assert at_restart < TOTAL
        finally:
            _ensure_rabbit_running()
        acked = stream.join(timeout=240)
        assert wait_for_count(server.url, token, TOTAL, timeout=120) == TOTAL
        keys = [(str(s), str(m)) for s, m in query(server.url, token, "SELECT source_id, message_id FROM events")]
        assert_exactly_once(keys, acked)
    finally:
        stream.stop()
        server.stop()


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    return proc.wait(60)


def test_kill_9_a_separate_worker_mid_stream(server_env: dict[str, str], tmp_path: Path) -> None:
    """`siyu serve --no-worker` takes the stream (it does not open the DuckDB file: the worker owns it)
    while a separate `siyu worker --consumers 2` is killed with SIGKILL holding unacknowledged messages.
    RabbitMQ gives them back as soon as the connection drops; a new worker process stores them, and the
    DuckDB key table drops what the killed one had stored before acknowledging. The API keeps answering
    200 while no worker runs. The store is checked by opening the DuckDB file after the worker stopped."""
    data = Path(server_env["SIYU_DATA_DIR"])
    env = server_env
    queue = f"{env['SIYU_BUS_NAMESPACE']}.warehouse"
    key = cli(env, "sources", "create", "--channel", "server", "--name", "crash")["write_key"]
    server = LiveServer(env, worker_in_server=False, log_path=tmp_path / "serve.log")
    start_server(server)
    workers = [start_worker(env, tmp_path / "worker-1.log", consumers=2)]
    # At most ~8,000 events/s (4 connections, 100 events per 50 ms): the stream lasts ~25 s, well past the
    # moment the worker is seen holding unacknowledged messages and killed.
    stream = EventStream(server.url, key, TOTAL, pace_s=0.05)
    try:
        stream.start()
        stream.wait_acked(TOTAL // 4)
        assert workers[0].poll() is None, (tmp_path / "worker-1.log").read_text()[-3000:]
        _wait_until(lambda: rabbit_queue_messages(queue, "messages_unacknowledged") > 0, 30,
                    "the worker never held unacknowledged messages")
        _stop(workers[0], signal.SIGKILL)
        at_kill = stream.acked_count
        assert at_kill < TOTAL
        stream.wait_acked(min(TOTAL, at_kill + TOTAL // 4))  # no worker, and the API still says 200
        workers.append(start_worker(env, tmp_path / "worker-2.log", consumers=2))
        acked = stream.join(timeout=240)
        _wait_until(lambda: rabbit_queue_messages(queue) == 0, 120, "the queue was not drained")
        assert _stop(workers[1]) == 0
        assert rabbit_queue_messages(queue) == 0  # nothing was held back unacknowledged
        assert_exactly_once(duckdb_event_keys(data / "events.duckdb"), acked)
    finally:
        stream.stop()
        server.stop()
        for w in workers:
            _stop(w, signal.SIGKILL)
