"""`siyu serve`'s processes on the embedded runtime, live: the worker child (which owns the DuckDB file and
answers the query API, readiness and the worker's metrics over a Unix socket) killed or stopped while events
stream, and several API processes taking copies of the same messages.

A client here behaves like the Segment clients (tests.support.EventStream): it sends a batch again, with the
same messageIds, until it is answered 200.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import (
    EventStream,
    LiveServer,
    assert_exactly_once,
    base_env,
    child_processes,
    cli,
    kill_while_leased,
    query,
    start_server,
    wait_for_count,
    worker_child,
)

pytestmark = pytest.mark.slow


def _ready(server: LiveServer) -> tuple[int, dict[str, Any]]:
    r = httpx.get(server.url + "/readyz", timeout=30)
    return r.status_code, r.json()


def _wait_ready(server: LiveServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (answer := _ready(server))[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert answer[0] == 200, answer


def _metrics(server: LiveServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """One API process's ``/metrics`` (a new connection: the kernel picks the process)."""
    r = httpx.get(server.url + "/metrics", timeout=30, headers={"Connection": "close"})
    assert r.status_code == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def test_kill_9_the_worker_child_mid_stream(tmp_path: Path) -> None:
    """The worker child is killed with SIGKILL while it holds a leased batch. `siyu serve` starts it again; the
    API answers 200 throughout (events wait on the bus); the new child takes back the killed one's lease at
    start-up, and the store drops what the killed child had already committed of that batch."""
    total = 60_000
    data = tmp_path / "data"
    env = base_env(data)
    key = cli(env, "sources", "create", "--channel", "server", "--name", "child")["write_key"]
    token = cli(env, "tokens", "create")["token"]
    server = LiveServer(env, log_path=tmp_path / "serve.log")
    start_server(server)
    first = worker_child(server)
    stream = EventStream(server.url, key, total)
    try:
        stream.start()
        stream.wait_acked(total // 4)
        leased = kill_while_leased(data / "bus.sqlite3", lambda: os.kill(first, signal.SIGKILL))
        assert leased > 0
        at_kill = stream.acked_count
        second = worker_child(server, other_than=first)  # started again
        assert first not in child_processes(server.proc.pid)  # type: ignore[union-attr]
        acked = stream.join(timeout=240)
        assert at_kill < total
        assert set(stream.answers) == {200}, stream.answers  # the API never noticed
        _wait_ready(server)
        assert wait_for_count(server.url, token, total, timeout=120) == total
        keys = [(str(s), str(m)) for s, m in query(server.url, token, "SELECT source_id, message_id FROM events")]
        assert_exactly_once(keys, acked)
        assert worker_child(server) == second
        assert "worker process exited; starting it again" in (tmp_path / "serve.log").read_text()
    finally:
        stream.stop()
        server.stop()


def test_a_stopped_worker_child_makes_readyz_and_the_query_api_answer_503_not_hang(tmp_path: Path) -> None:
    """The worker child is stopped (SIGSTOP: alive, its socket still taking connections, nothing answering).
    Readiness names the event store within its 5 s per check, the query API answers 503 after its timeout,
    /metrics still answers, and the tracking API still takes events; all is well again once it continues."""
    data = tmp_path / "data"
    env = base_env(data, SIYU_QUERY_TIMEOUT_S="2")
    key = cli(env, "sources", "create", "--channel", "web", "--name", "stopped")["write_key"]
    token = cli(env, "tokens", "create")["token"]
    server = LiveServer(env, log_path=tmp_path / "serve.log")
    start_server(server)
    child = worker_child(server)
    auth = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    os.kill(child, signal.SIGSTOP)
    try:
        for _ in range(3):  # a probe every few seconds, as an orchestrator does
            started = time.monotonic()
            status, body = _ready(server)
            assert status == 503, body
            assert {name for name, c in body["checks"].items() if not c["ok"]} == {"warehouse"}, body
            assert time.monotonic() - started < 10
        r = httpx.post(server.url + "/api/v1/query", json={"sql": "SELECT count(*) FROM events"},
                       headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert r.status_code == 503 and r.json()["error"]["code"] == "warehouse_unavailable", r.text
        assert httpx.get(server.url + "/metrics", timeout=30).status_code == 200
        batch = [{"type": "track", "event": "Product Viewed", "anonymousId": "a-1", "messageId": f"s-{i}"}
                 for i in range(10)]
        r = httpx.post(server.url + "/v1/batch", json={"batch": batch}, headers=auth, timeout=30)
        assert r.status_code == 200 and r.json()["accepted"] == 10
    finally:
        os.kill(child, signal.SIGCONT)
    try:
        _wait_ready(server)
        assert wait_for_count(server.url, token, 10, timeout=60) == 10
        assert worker_child(server) == child  # it was never restarted: it did not exit
    finally:
        server.stop()


def test_several_api_processes_store_each_message_once(tmp_path: Path) -> None:
    """`siyu serve --processes 2`: every batch is sent by each of several clients, each request on a new
    connection, so copies of the same messageIds reach both API processes, at once or one after the other.
    Each message is stored once, and the worker's counters (served by whichever API process answers) say so.
    Each API process counts what it accepted itself: the two processes' counts add up to everything sent."""
    unique, batch, senders = 3_000, 100, 8
    data = tmp_path / "data"
    env = base_env(data)
    key = cli(env, "sources", "create", "--channel", "app", "--name", "many")["write_key"]
    token = cli(env, "tokens", "create")["token"]
    server = LiveServer(env, log_path=tmp_path / "serve.log", processes=2)
    start_server(server)
    headers = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
               "Content-Type": "application/json", "Connection": "close"}
    bodies = [json.dumps({"batch": [
        {"type": "track", "event": "Product Viewed", "anonymousId": f"a-{i % 97}", "messageId": f"dup-{i:05d}"}
        for i in range(start, start + batch)]}).encode() for start in range(0, unique, batch)]
    failures: list[str] = []

    def send(seed: int) -> None:
        order = list(range(len(bodies)))
        random.Random(seed).shuffle(order)
        for n in order:
            for _ in range(20):
                try:
                    r = httpx.post(server.url + "/v1/batch", content=bodies[n], headers=headers, timeout=30)
                except httpx.HTTPError:
                    continue
                if r.status_code == 200 and r.json()["accepted"] == batch:
                    break
            else:
                failures.append(f"batch {n} never accepted")

    try:
        threads = [threading.Thread(target=send, args=(seed,)) for seed in range(senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not failures and not any(t.is_alive() for t in threads), failures
        sent = unique * senders
        assert wait_for_count(server.url, token, unique, timeout=120) == unique
        ids = [str(m) for (m,) in query(server.url, token, "SELECT message_id FROM events")]
        assert sorted(ids) == [f"dup-{i:05d}" for i in range(unique)]

        accepted: dict[float, float] = {}  # API process (by its start time) -> events it accepted
        deadline = time.monotonic() + 60
        while len(accepted) < 2 and time.monotonic() < deadline:
            found = _metrics(server)
            accepted[found[("process_start_time_seconds", frozenset())]] = \
                found.get(("siyu_events_accepted_total", frozenset({("channel", "app")})), 0.0)
            assert found[("siyu_events_stored_total", frozenset())] == unique
            assert found[("siyu_events_deduplicated_total", frozenset())] >= sent - unique
        assert len(accepted) == 2 and all(accepted.values()), accepted  # both processes took copies
        assert sum(accepted.values()) == sent
    finally:
        server.stop()
