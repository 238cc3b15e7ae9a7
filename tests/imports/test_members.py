"""``siyu import members``: each row's identifiers join one person (anonymous history merges in; two
identified persons never do: such a row is reported), its other columns become traits, and importing the
same file again adds nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import Api
from tests.identity.journeys import msg, send
from tests.imports.helpers import Cli, scalar, write_csv

HEADER = ["会员编号", "手机号", "邮箱", "设备", "姓名", "城市", "生日", "注册时间"]
MEMBERS = [
    ["M001", "13900000002", "Wang@Example.com", "", "王芳", "杭州", "1990/5/1", "2021-06-01 10:00:00"],  # 2
    ["", "138 0000 0001", "lin@example.com", "", "林", "上海", "", "2020-01-01"],  # 3: an existing member
    ["M003", "", "", "device-77", "张三", "", "", ""],  # 4: the device's anonymous history joins M003
    ["M004", "13800000001", "", "", "", "", "", ""],  # 5: that phone's person already has a user id
    ["M001", "13800000001", "", "", "", "", "", ""],  # 6: two identified persons
    ["", "", "not-an-email", "", "", "", "", ""],  # 7
    ["", "", "", "", "无名", "北京", "", ""],  # 8: no identifier
    ["M009", "", "", "", "", "", "1990-13-45", ""],  # 9
]
FLAGS = ("--id", "user_id=会员编号", "--id", "phone=手机号", "--id", "email=邮箱", "--id", "device_id=设备",
         "--trait", "name=姓名", "--trait", "city=城市", "--trait", "birthday=生日", "--col-joined-at", "注册时间",
         "--as-of", "2024-06-30T00:00:00+08:00")


def profile(api: Api, kind: str, value: str) -> dict[str, Any]:
    r = api.client.get(f"/api/v1/persons/by-identifier/{kind}/{value}", headers=api.admin_headers())
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_members_join_their_identifiers_and_carry_their_traits(tmp_path: Path, cli: Cli, api: Api,
                                                               database_url: str) -> None:
    r = api.client.post("/api/v1/identity/login", json={"phone": "13800000001", "user_id": "old-1"},
                        headers=api.admin_headers())
    assert r.status_code == 200, r.text
    lin = r.json()["person_id"]
    send(api, "app", msg("track", anonymousId="anon-d", event="App Opened", context={"device": {"id": "device-77"}}))
    api.drain()
    browser = profile(api, "anonymous_id", "anon-d")["id"]

    export = write_csv(tmp_path / "members.csv", HEADER, MEMBERS)
    out = cli.run("import", "members", str(export), *FLAGS)
    assert (out["rows"], out["imported"], out["skipped"]) == (8, 3, 0)
    assert {e["line"]: e["code"] for e in out["errors"]} == {
        5: "identity_limit", 6: "identity_conflict", 7: "bad_identifier", 8: "missing_value", 9: "bad_date"}
    reasons = {e["line"]: e["reason"] for e in out["errors"]}
    assert "different identified persons" in reasons[6] and "phone=+8613800000001" in reasons[6]
    assert "at most 1 user_id" in reasons[5]

    wang = profile(api, "user_id", "M001")
    assert {(i["kind"], i["value"]) for i in wang["identifiers"]} == {
        ("user_id", "M001"), ("phone", "+8613900000002"), ("email", "wang@example.com")}
    assert wang["traits"] == {"name": "王芳", "city": "杭州", "birthday": "1990-05-01",
                              "createdAt": "2021-06-01T02:00:00.000Z"}
    assert [(c["channel"], c["first_seen"], c["last_seen"]) for c in wang["channels"]] == [
        ("server", "2021-06-01T02:00:00Z", "2024-06-29T16:00:00Z")]

    existing = profile(api, "email", "lin@example.com")
    assert existing["id"] == lin and existing["traits"]["city"] == "上海"
    assert {"user_id", "phone", "email"} <= {i["kind"] for i in existing["identifiers"]}
    assert profile(api, "user_id", "M003")["id"] == browser  # the browser's history is M003's now
    assert scalar(database_url, "SELECT count(*) FROM imported_members") == 3
    history = scalar(database_url, "SELECT count(*) FROM trait_history")
    assert history == 4 + 3 + 1  # M001's four traits, Lin's three, M003's name

    again = cli.run("import", "members", str(export), *FLAGS)
    assert (again["rows"], again["imported"], again["skipped"], again["error_count"]) == (8, 0, 3, 5)
    assert profile(api, "user_id", "M001") == wang
    assert scalar(database_url, "SELECT count(*) FROM imported_members") == 3
    assert scalar(database_url, "SELECT count(*) FROM trait_history") == history


def test_a_changed_row_is_imported_again_and_updates_the_traits(tmp_path: Path, cli: Cli, api: Api) -> None:
    first = write_csv(tmp_path / "v1.csv", ["uid", "city"], [["u-1", "杭州"]])
    second = write_csv(tmp_path / "v2.csv", ["uid", "city"], [["u-1", "上海"]])
    flags = ("--id", "user_id=uid", "--trait", "city=city", "--source", "crm")
    assert cli.run("import", "members", str(first), *flags, "--as-of", "2024-01-01T00:00:00Z")["imported"] == 1
    assert cli.run("import", "members", str(second), *flags, "--as-of", "2024-02-01T00:00:00Z")["imported"] == 1
    assert profile(api, "user_id", "u-1")["traits"] == {"city": "上海"}
    # an older export does not overwrite what a newer one said
    older = write_csv(tmp_path / "v0.csv", ["uid", "city"], [["u-1", "北京"]])
    assert cli.run("import", "members", str(older), *flags, "--as-of", "2023-01-01T00:00:00Z")["imported"] == 1
    assert profile(api, "user_id", "u-1")["traits"] == {"city": "上海"}
    err = cli.run("import", "members", str(first), "--trait", "city=city", code=1)
    assert "(import_bad_mapping)" in err
