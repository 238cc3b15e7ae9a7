"""The sources and tokens API (``/api/v1/sources``, ``/api/v1/tokens``): operators only, keys shown once."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from siyu.kit.ids import hash_secret
from siyu.sources.models import SourceKey
from tests.conftest import Api


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def send(api: Api, headers: dict[str, str], message_id: str = "m-1") -> int:
    msg = {"userId": "u1", "event": "Signed Up", "messageId": message_id}
    return int(api.client.post("/v1/track", json=msg, headers=headers).status_code)


def create(api: Api, **body: Any) -> dict[str, Any]:
    r = api.client.post("/api/v1/sources", json={"channel": "web", "name": "官方网站", **body},
                        headers=api.admin_headers())
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


OPERATIONS = [
    ("GET", "/api/v1/sources", None),
    ("POST", "/api/v1/sources", {"channel": "web", "name": "x"}),
    ("GET", "/api/v1/sources/{id}", None),
    ("PATCH", "/api/v1/sources/{id}", {"name": "y"}),
    ("POST", "/api/v1/sources/{id}/rotate", {}),
    ("POST", "/api/v1/sources/{id}/bearer-token", {}),
    ("POST", "/api/v1/sources/{id}/disable", None),
    ("POST", "/api/v1/sources/{id}/enable", None),
    ("GET", "/api/v1/tokens", None),
    ("POST", "/api/v1/tokens", {"name": "x"}),
    ("POST", "/api/v1/tokens/{token}/revoke", None),
]


@pytest.mark.parametrize("method,path,body", OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_only_operators_may_manage_sources_and_tokens(api: Api, method: str, path: str,
                                                      body: dict[str, Any] | None) -> None:
    sid = api.source_ids["web"]
    token_id = api.client.get("/api/v1/tokens", headers=api.admin_headers()).json()[0]["id"]
    url = path.format(id=sid, token=token_id)
    before = api.client.get(f"/api/v1/sources/{sid}", headers=api.admin_headers()).json()
    for headers in ({}, bearer("sat_not-a-token"), {"Authorization": api.admin}, basic(api.admin),
                    bearer(api.keys["web"]), basic(api.keys["web"])):
        r = api.client.request(method, url, json=body, headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.json()["error"]["code"] == "invalid_token"
        assert "wk_" not in r.text and "sat_" not in r.text
    # nothing changed: no new source, key or token, the source still enabled with its one key
    assert api.client.get(f"/api/v1/sources/{sid}", headers=api.admin_headers()).json() == before
    assert len(api.client.get("/api/v1/sources", headers=api.admin_headers()).json()) == 4
    assert len(api.client.get("/api/v1/tokens", headers=api.admin_headers()).json()) == 1
    assert send(api, basic(api.keys["web"])) == 200


def test_create_shows_the_write_key_once_and_stores_only_its_hash(api: Api) -> None:
    out = create(api, rate_limit=50)
    key = out["write_key"]
    assert key.startswith("wk_") and len(key) > 30
    assert out["channel"] == "web" and out["name"] == "官方网站" and out["enabled"] is True
    assert out["rate_limit"] == 50 and out["disabled_at"] is None
    assert [(k["kind"], k["prefix"], k["expires_at"]) for k in out["keys"]] == [("write_key", key[:10], None)]
    got = api.client.get(f"/api/v1/sources/{out['id']}", headers=api.admin_headers())
    assert got.status_code == 200 and "write_key" not in got.json() and key not in got.text
    listed = api.client.get("/api/v1/sources", headers=api.admin_headers()).json()
    assert out["id"] in [s["id"] for s in listed] and key not in str(listed)
    with api.runtime.db.session() as s:
        stored = [k.key_hash for k in s.query(SourceKey).filter_by(source_id=out["id"])]
    assert stored == [hash_secret(key)]
    # the key works at once, for its own channel
    assert send(api, basic(key)) == 200
    api.drain()
    assert api.sql("SELECT channel, source_id FROM events") == [["web", out["id"]]]


@pytest.mark.parametrize("body", [
    {"channel": "tv", "name": "x"}, {"channel": "web"}, {"channel": "web", "name": ""},
    {"channel": "web", "name": "x" * 201}, {"channel": "web", "name": "x", "rate_limit": -1},
    {"channel": "web", "name": "x", "rate_limit": "fast"},
])
def test_create_validates(api: Api, body: dict[str, Any]) -> None:
    r = api.client.post("/api/v1/sources", json=body, headers=api.admin_headers())
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error" and r.json()["error"]["details"]


def test_unknown_ids_are_404(api: Api) -> None:
    for method, path, body in OPERATIONS:
        if "{id}" not in path:
            continue
        r = api.client.request(method, path.format(id="nope"), json=body, headers=api.admin_headers())
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "source_not_found"
    r = api.client.post("/api/v1/tokens/nope/revoke", headers=api.admin_headers())
    assert r.status_code == 404 and r.json()["error"]["code"] == "token_not_found"


def test_patch_changes_only_what_it_is_given(api: Api) -> None:
    sid = create(api, rate_limit=50)["id"]
    r = api.client.patch(f"/api/v1/sources/{sid}", json={"name": "新名字"}, headers=api.admin_headers())
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["rate_limit"]) == ("新名字", 50)
    r = api.client.patch(f"/api/v1/sources/{sid}", json={"rate_limit": 7.5}, headers=api.admin_headers())
    assert (r.json()["name"], r.json()["rate_limit"]) == ("新名字", 7.5)
    r = api.client.patch(f"/api/v1/sources/{sid}", json={"rate_limit": None}, headers=api.admin_headers())
    assert (r.json()["name"], r.json()["rate_limit"]) == ("新名字", None)  # back to the deployment default
    r = api.client.patch(f"/api/v1/sources/{sid}", json={"rate_limit": -3}, headers=api.admin_headers())
    assert r.status_code == 422
    got = api.client.get(f"/api/v1/sources/{sid}", headers=api.admin_headers()).json()
    assert (got["name"], got["rate_limit"]) == ("新名字", None)


def test_rotate_issues_a_new_key_and_expires_the_old(api: Api) -> None:
    sid, old = api.source_ids["web"], api.keys["web"]
    r = api.client.post(f"/api/v1/sources/{sid}/rotate", headers=api.admin_headers())  # no body: no grace
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["source_id"] == sid and out["kind"] == "write_key" and out["key"].startswith("wk_")
    assert send(api, basic(old)) == 401
    assert send(api, basic(out["key"])) == 200
    keys = api.client.get(f"/api/v1/sources/{sid}", headers=api.admin_headers()).json()["keys"]
    assert [k["prefix"] for k in keys] == [old[:10], out["key"][:10]]
    assert keys[0]["expires_at"] is not None and keys[1]["expires_at"] is None
    r = api.client.post(f"/api/v1/sources/{sid}/rotate", json={"grace_seconds": -1}, headers=api.admin_headers())
    assert r.status_code == 422


def test_bearer_tokens_send_events_and_rotate(api: Api) -> None:
    sid = api.source_ids["server"]
    first = api.client.post(f"/api/v1/sources/{sid}/bearer-token", headers=api.admin_headers()).json()
    assert first["kind"] == "bearer" and first["key"].startswith("sbt_")
    assert send(api, bearer(first["key"]), "b-1") == 200
    second = api.client.post(f"/api/v1/sources/{sid}/bearer-token", json={},
                             headers=api.admin_headers()).json()
    assert send(api, bearer(first["key"]), "b-2") == 401
    assert send(api, bearer(second["key"]), "b-3") == 200
    # a bearer token is not a write key (Basic) and its write key still works
    assert send(api, basic(second["key"]), "b-4") == 401
    assert send(api, basic(api.keys["server"]), "b-5") == 200
    api.drain()
    assert api.sql("SELECT channel, message_id FROM events ORDER BY message_id") == [
        ["server", "b-1"], ["server", "b-3"], ["server", "b-5"]]


def test_disable_and_enable_report_their_state(api: Api) -> None:
    sid = api.source_ids["app"]
    r = api.client.post(f"/api/v1/sources/{sid}/disable", headers=api.admin_headers())
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["disabled_at"]
    assert send(api, basic(api.keys["app"])) == 401
    listed = {s["id"]: s["enabled"] for s in api.client.get("/api/v1/sources", headers=api.admin_headers()).json()}
    assert listed[sid] is False and sum(listed.values()) == 3
    r = api.client.post(f"/api/v1/sources/{sid}/enable", headers=api.admin_headers())
    assert r.status_code == 200 and r.json()["enabled"] is True and r.json()["disabled_at"] is None
    assert send(api, basic(api.keys["app"])) == 200


def test_tokens_are_created_listed_and_revoked(api: Api) -> None:
    r = api.client.post("/api/v1/tokens", json={"role": "admin", "name": "运营"}, headers=api.admin_headers())
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["role"] == "admin" and created["token"].startswith("sat_")
    assert api.client.get("/api/v1/sources", headers=bearer(created["token"])).status_code == 200
    listed = api.client.get("/api/v1/tokens", headers=api.admin_headers()).json()
    assert [t["name"] for t in listed] == ["test", "运营"] and created["token"] not in str(listed)
    assert api.client.post("/api/v1/tokens", json={"role": "viewer"}, headers=api.admin_headers()).status_code == 422
    r = api.client.post(f"/api/v1/tokens/{created['id']}/revoke", headers=api.admin_headers())
    assert r.status_code == 200 and r.json()["revoked_at"]
    r = api.client.get("/api/v1/sources", headers=bearer(created["token"]))
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"
    assert api.client.get("/api/v1/sources", headers=api.admin_headers()).status_code == 200
