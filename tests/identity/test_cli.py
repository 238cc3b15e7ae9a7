"""``siyu identity ...`` and ``siyu persons ...``: the operator's tools, run as the real command against the
operational database of a running app (SQLite and PostgreSQL), which sees their effects at once."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Api
from tests.identity.journeys import basic, msg, person_id, send
from tests.support import SIYU, LiveServer, base_env, query, start_server, wait_for_count


@pytest.fixture
def env(tmp_path: Path, database_url: str, api: Api) -> dict[str, str]:
    """The CLI's environment: the same operational database as the running ``api``."""
    return base_env(tmp_path / "cli-data", SIYU_DATABASE_URL=database_url)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SIYU), *args], env=env, capture_output=True, text=True, timeout=120)


def ok(env: dict[str, str], *args: str) -> Any:
    out = run(env, *args, "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def refused(env: dict[str, str], *args: str) -> str:
    """The one-line error of a refused command (exit code 1, nothing on stdout)."""
    out = run(env, *args)
    assert out.returncode == 1 and out.stdout == "", out.stdout + out.stderr
    assert out.stderr.count("\n") == 1, out.stderr  # no traceback
    return out.stderr.strip()


def seed(api: Api) -> None:
    """Alice and Bob share a phone (a recorded conflict); a browser's history joins Carol on identify; Dan and
    Eve share a tablet (another conflict)."""
    send(api, "web",
         msg("identify", userId="alice", traits={"phone": "13900001111", "city": "杭州"}),
         msg("track", userId="alice", event="Product Viewed"),
         msg("identify", userId="bob", traits={"phone": "139-0000-1111", "email": "Bob@Example.com"}),
         msg("track", userId="bob", event="Order Completed"),
         msg("page", anonymousId="browser-c", name="Home"),
         msg("identify", anonymousId="browser-c", userId="carol"))
    tablet = {"id": "family-tablet"}
    send(api, "app",
         msg("identify", userId="dan", context={"device": tablet}),
         msg("identify", userId="eve", context={"device": tablet}))
    api.drain()


def test_operator_merges_unmerges_and_reads_persons_while_the_app_runs(api: Api, env: dict[str, str]) -> None:
    seed(api)
    alice, bob = person_id(api, "user_id", "alice"), person_id(api, "user_id", "bob")
    assert alice and bob and alice != bob

    # persons: by identifier in any common format, and by id
    found = ok(env, "persons", "find", "phone", "+86 139 0000 1111")
    assert found["id"] == alice and {"kind": "phone", "value": "+8613900001111"} in found["identifiers"]
    assert found["traits"] == {"city": "杭州", "phone": "13900001111"}
    assert ok(env, "persons", "find", "email", "bob@example.com")["id"] == bob
    carol = ok(env, "persons", "find", "anonymous_id", "browser-c")
    assert {(i["kind"], i["value"]) for i in carol["identifiers"]} == {("user_id", "carol"),
                                                                      ("anonymous_id", "browser-c")}
    assert ok(env, "persons", "get", bob)["identifiers"][0] == {"kind": "user_id", "value": "bob"}

    # conflicts: the shared phone and the shared tablet, filtered by person
    page = ok(env, "identity", "conflicts")
    pairs = {frozenset((c["person_id"], c["other_person_id"])): c for c in page["items"]}
    assert frozenset((alice, bob)) in pairs and len(pairs) == 2 and page["next_cursor"] is None
    mine = ok(env, "identity", "conflicts", "--person", bob)["items"]
    assert [c["identifier_kind"] for c in mine] == ["phone"]
    assert ok(env, "identity", "conflicts", "--status", "resolved")["items"] == []

    # merge Bob into Alice: the running app sees it at once, and the event store after the next sync
    merged = ok(env, "identity", "merge", "--into", alice, "--from", bob, "--reason", "same customer")
    assert (merged["action"], merged["into_person"], merged["from_person"], merged["trigger"], merged["reason"]) == (
        "merge", alice, bob, "operator", "same customer")
    assert merged["actor"].startswith("cli")
    assert person_id(api, "user_id", "bob") == alice
    api.drain()
    assert api.sql("SELECT DISTINCT person_id FROM events WHERE user_id IN ('alice', 'bob')") == [[alice]]
    after = ok(env, "persons", "get", bob)  # a merged-away id answers the survivor
    assert after["id"] == alice and after["merged_from"] == [bob]
    # the merge settled the conflict between the two
    assert [c["identifier_kind"] for c in ok(env, "identity", "conflicts", "--status", "resolved")["items"]] == [
        "phone"]
    history = ok(env, "identity", "history", bob)
    assert [(h["action"], h["id"]) for h in history] == [("merge", merged["id"])]

    # unmerge: both are restored, and the second undo is refused with its code
    undone = ok(env, "identity", "unmerge", merged["id"], "--reason", "two customers after all")
    assert (undone["action"], undone["into_person"], undone["from_person"]) == ("unmerge", bob, alice)
    assert person_id(api, "user_id", "bob") == bob
    api.drain()
    assert api.sql("SELECT user_id, person_id FROM events WHERE user_id IN ('alice', 'bob') "
                   "GROUP BY ALL ORDER BY 1") == [["alice", alice], ["bob", bob]]
    assert [h["action"] for h in ok(env, "identity", "history", alice)] == ["merge", "unmerge"]
    assert refused(env, "identity", "unmerge", merged["id"]) == (
        "error: This merge was already undone (or is itself an unmerge). (merge_already_undone)")

    # dismiss the tablet conflict
    dan = person_id(api, "user_id", "dan")
    tablet = ok(env, "identity", "conflicts", "--person", str(dan))["items"]
    assert len(tablet) == 1
    dismissed = ok(env, "identity", "dismiss", tablet[0]["id"])
    assert dismissed["id"] == tablet[0]["id"] and dismissed["resolved_at"]
    assert ok(env, "identity", "conflicts")["items"] == []
    r = api.client.get("/api/v1/identity/conflicts?status=all", headers=api.admin_headers())
    assert {c["id"]: c["resolved_at"] is not None for c in r.json()["items"]} == {
        c["id"]: True for c in ok(env, "identity", "conflicts", "--status", "all")["items"]}


def test_tables_for_people_and_errors_as_one_line(api: Api, env: dict[str, str]) -> None:
    seed(api)
    alice, bob = person_id(api, "user_id", "alice"), person_id(api, "user_id", "bob")
    assert alice and bob
    # the human form: tables with the full ids (an operator copies them into the next command)
    out = run(env, "persons", "find", "user_id", "alice")
    assert out.returncode == 0 and alice in out.stdout and "+8613900001111" in out.stdout and "杭州" in out.stdout
    out = run(env, "identity", "conflicts", "--person", alice)
    assert out.returncode == 0 and alice in out.stdout and bob in out.stdout and "identified_persons" in out.stdout
    out = run(env, "identity", "merge", "--into", alice, "--from", bob, "--reason", "same customer")
    assert out.returncode == 0 and "merge" in out.stdout and alice in out.stdout and bob in out.stdout
    out = run(env, "identity", "history", alice)
    assert out.returncode == 0 and "same customer" in out.stdout

    # errors: the message and the code, exit code 1, nothing written
    assert refused(env, "persons", "get", "no-such-person") == (
        "error: No person has that id or identifier. (person_not_found)")
    assert refused(env, "persons", "find", "phone", "not a phone").endswith("(person_not_found)")
    assert refused(env, "identity", "merge", "--into", alice, "--from", bob, "--reason", "again").endswith(
        "(same_person)")
    assert refused(env, "identity", "unmerge", "no-such-merge").endswith("(merge_not_found)")
    assert refused(env, "identity", "dismiss", "no-such-conflict").endswith("(conflict_not_found)")
    assert refused(env, "identity", "history", "no-such-person").endswith("(person_not_found)")
    bad = run(env, "identity", "conflicts", "--status", "closed")
    assert bad.returncode == 2 and "closed" in bad.stderr
    assert len(ok(env, "identity", "history", alice)) == 1


def test_cli_merges_reach_a_running_server_and_its_event_store(tmp_path: Path) -> None:
    """`siyu serve` (with its worker) on one data directory, the operator's commands on the same one."""
    env = base_env(tmp_path / "data")
    source = ok(env, "sources", "create", "--channel", "web", "--name", "官网")
    admin = ok(env, "tokens", "create", "--role", "admin")["token"]
    srv = LiveServer(env, log_path=tmp_path / "server.log")
    start_server(srv)
    try:
        batch = {"batch": [msg("identify", userId="twin-a", traits={"phone": "13700001111"}),
                           msg("identify", userId="twin-b", traits={"phone": "137-0000-1111"}),
                           msg("track", userId="twin-b", event="Order Completed")]}
        r = httpx.post(srv.url + "/v1/batch", json=batch, headers=basic(source["write_key"]), timeout=30)
        assert r.status_code == 200, r.text
        assert wait_for_count(srv.url, admin, 3) == 3

        def persons_of_events() -> list[list[Any]]:
            return query(srv.url, admin, "SELECT user_id, min(person_id) FROM events GROUP BY 1 ORDER BY 1")

        deadline = time.monotonic() + 60
        while any(p is None for _, p in persons_of_events()) and time.monotonic() < deadline:
            time.sleep(0.2)
        (_, a), (_, b) = persons_of_events()
        assert a and b and a != b
        assert ok(env, "persons", "find", "phone", "13700001111")["id"] == a
        [conflict] = ok(env, "identity", "conflicts")["items"]
        assert {conflict["person_id"], conflict["other_person_id"]} == {a, b}

        merged = ok(env, "identity", "merge", "--into", a, "--from", b, "--reason", "twins are one customer")
        got = httpx.get(f"{srv.url}/api/v1/persons/{b}", headers={"Authorization": f"Bearer {admin}"}, timeout=30)
        assert got.status_code == 200 and got.json()["id"] == a  # the server sees the merge at once
        until(lambda: persons_of_events() == [["twin-a", a], ["twin-b", a]])  # the worker copies the links

        ok(env, "identity", "unmerge", merged["id"])
        until(lambda: persons_of_events() == [["twin-a", a], ["twin-b", b]])
    finally:
        srv.stop()


def until(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
