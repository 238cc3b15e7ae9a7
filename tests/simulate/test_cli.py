"""End to end: ``siyu simulate --via api`` against a live ``siyu serve``, and ``siyu demo``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from siyu.simulate.truth import load_truth
from tests.support import SIYU, LiveServer, base_env, cli, free_port, query, wait_for_count


def _serve(env: dict[str, str], log: Path) -> LiveServer:
    """A ``siyu serve`` (support.LiveServer.start leaves its log file open, a ResourceWarning here)."""
    server = LiveServer(env, log_path=log)
    with open(log, "ab") as f:
        server.proc = subprocess.Popen([str(SIYU), "serve", "--port", str(server.port)], env=env, stdout=f,
                                       stderr=subprocess.STDOUT, start_new_session=True)
    _wait_ready(server.proc, server.url, log)
    return server


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(log.read_text()[-3000:])


def test_simulate_via_the_tracking_api(tmp_path: Path) -> None:
    env = base_env(tmp_path / "data")
    server = _serve(env, tmp_path / "server.log")
    try:
        out = cli(env, "simulate", "--via", "api", "--url", server.url, "--people", "150", "--days", "10",
                  "--seed", "3", "--end-date", "2026-03-01")
        assert out["delivery"]["via"] == "api"
        assert out["delivery"]["rejected"] == 0
        assert out["delivery"]["accepted"] == out["delivery"]["sent"] == out["events"] > 2000
        token = cli(env, "tokens", "create")["token"]
        assert wait_for_count(server.url, token, out["events"]) == out["events"]
        rows = query(server.url, token, "SELECT channel, count(*) FROM events GROUP BY channel")
        assert {r[0]: r[1] for r in rows} == out["events_by_channel"]
        truth = load_truth(tmp_path / "data" / "simulation")
        assert len(truth.messages) == out["events"]
        assert truth.summary["config"]["seed"] == 3
        # The same simulation again is deduplicated: same sources, same message ids.
        again = cli(env, "simulate", "--via", "api", "--url", server.url, "--people", "150", "--days", "10",
                    "--seed", "3", "--end-date", "2026-03-01", "--out", str(tmp_path / "again"))
        assert again["delivery"]["accepted"] == out["events"]
        time.sleep(1.0)
        assert wait_for_count(server.url, token, out["events"]) == out["events"]
    finally:
        server.stop()


def _start_demo(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as f:
        proc = subprocess.Popen([str(SIYU), "demo", "--port", str(port), "--people", "120", "--days", "7"],
                                env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    _wait_ready(proc, f"http://127.0.0.1:{port}", log)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_demo_loads_once_then_serves(tmp_path: Path) -> None:
    env = base_env(tmp_path / "data")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "demo.log"
    proc = _start_demo(env, port, log)
    try:
        demo = json.loads((tmp_path / "data" / "demo.json").read_text())
        assert set(demo["sources"]) == {"miniprogram", "web", "app", "server"}
        assert demo["delivery"]["rejected"] == 0
        events = demo["loaded"]["events"]
        assert events > 500
        token = demo["admin_token"]
        assert wait_for_count(url, token, events) == events
        printed = log.read_text()
        for hint in (f"{url}/docs", f"{url}/readyz", f"{url}/metrics", token, demo["sources"]["web"]["write_key"],
                     "/v1/track", "/api/v1/query", "GROUP BY channel", "sources list", "simulate --via api"):
            assert hint in printed, hint
        r = httpx.post(f"{url}/v1/track", auth=(demo["sources"]["web"]["write_key"], ""),
                       json={"anonymousId": "a-1", "event": "Product Viewed", "messageId": "demo-try-1"})
        assert r.status_code == 200, r.text
        assert wait_for_count(url, token, events + 1) == events + 1
    finally:
        _stop(proc)

    # A second start reuses the demo: nothing is loaded twice.
    proc = _start_demo(env, port, log)
    try:
        assert "Reusing the demo" in log.read_text()
        assert json.loads((tmp_path / "data" / "demo.json").read_text())["admin_token"] == token
        time.sleep(1.0)
        assert wait_for_count(url, token, events + 1) == events + 1
    finally:
        _stop(proc)
