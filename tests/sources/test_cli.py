"""``siyu sources ...`` and ``siyu tokens ...``: JSON output for scripts, and they work while a server runs
(a key created by the CLI is accepted by the running server at once)."""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import SIYU, LiveServer, base_env, cli, start_server, wait_for_count


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def run(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([str(SIYU), *args], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def send(url: str, headers: dict[str, str], message_id: str) -> httpx.Response:
    msg = {"userId": "u1", "event": "Signed Up", "messageId": message_id}
    return httpx.post(url + "/v1/track", json=msg, headers=headers, timeout=30)


def until_status(url: str, headers: dict[str, str], status: int, prefix: str, timeout: float = 30) -> int:
    """Send until the answer is ``status`` (other API processes see key changes within the key cache's
    lifetime, a couple of seconds); returns how many sends it took."""
    deadline = time.monotonic() + timeout
    n = 0
    while True:
        n += 1
        r = send(url, headers, f"{prefix}-{n}")
        if r.status_code == status or time.monotonic() > deadline:
            assert r.status_code == status, r.text
            return n
        time.sleep(0.2)


def test_create_commands_print_json(tmp_path: Path) -> None:
    env = base_env(tmp_path / "data")
    source = cli(env, "sources", "create", "--channel", "miniprogram", "--name", "官方小程序", "--rate-limit", "100")
    assert set(source) >= {"id", "write_key", "channel", "name", "enabled", "rate_limit", "keys"}
    assert source["write_key"].startswith("wk_")
    assert (source["channel"], source["name"], source["enabled"], source["rate_limit"]) == (
        "miniprogram", "官方小程序", True, 100)
    token = cli(env, "tokens", "create", "--role", "admin")
    assert token["token"].startswith("sat_") and token["role"] == "admin" and token["id"]
    listed = cli(env, "sources", "list")
    assert [(s["id"], s["channel"]) for s in listed] == [(source["id"], "miniprogram")]
    assert source["write_key"] not in json.dumps(listed)
    # the human form prints a table that names the source
    assert "官方小程序" in run(env, "sources", "list")


def test_cli_refuses_bad_input(tmp_path: Path) -> None:
    env = base_env(tmp_path / "data")
    bad = subprocess.run([str(SIYU), "sources", "create", "--channel", "tv", "--name", "x", "--json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "tv" in bad.stderr
    for args in (["rotate", "no-such-source", "--json"], ["disable", "no-such-source"]):
        missing = subprocess.run([str(SIYU), "sources", *args], env=env, capture_output=True, text=True,
                                 timeout=120)
        assert missing.returncode == 1 and missing.stdout == ""
        # one clear line, not a traceback
        assert missing.stderr.strip() == "error: No such source. (source_not_found)"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    env = base_env(tmp_path / "data")
    srv = LiveServer(env, log_path=tmp_path / "server.log")
    start_server(srv)
    try:
        yield srv, env
    finally:
        srv.stop()


def test_cli_works_while_the_server_runs(server: tuple[LiveServer, dict[str, str]]) -> None:
    srv, env = server
    source: dict[str, Any] = cli(env, "sources", "create", "--channel", "web", "--name", "官方网站")
    token = cli(env, "tokens", "create", "--role", "admin")["token"]
    # the running server accepts the new key and token immediately
    assert send(srv.url, basic(source["write_key"]), "cli-1").status_code == 200
    listed = httpx.get(srv.url + "/api/v1/sources", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert listed.status_code == 200 and [s["id"] for s in listed.json()] == [source["id"]]
    assert wait_for_count(srv.url, token, 1) == 1
    rows = httpx.post(srv.url + "/api/v1/query", json={"sql": "SELECT channel, source_id, message_id FROM events"},
                      headers={"Authorization": f"Bearer {token}"}, timeout=30).json()["rows"]
    assert rows == [["web", source["id"], "cli-1"]]

    # rotate: the new key works at once, the old one stops within the key cache's lifetime
    rotated = cli(env, "sources", "rotate", source["id"])
    assert rotated["write_key"] != source["write_key"] and rotated["old_keys_expire_at"]
    assert send(srv.url, basic(rotated["write_key"]), "cli-2").status_code == 200
    until_status(srv.url, basic(source["write_key"]), 401, "old")

    bearer = cli(env, "sources", "bearer-token", source["id"])["token"]
    assert send(srv.url, {"Authorization": f"Bearer {bearer}"}, "cli-3").status_code == 200

    assert "disabled" in run(env, "sources", "disable", source["id"])
    until_status(srv.url, basic(rotated["write_key"]), 401, "disabled")
    assert "enabled" in run(env, "sources", "enable", source["id"])
    until_status(srv.url, basic(rotated["write_key"]), 200, "enabled")
