"""Bad input gets a clear answer (status + machine-readable ``error.code``) and loses nothing good.

Every rejected request stores nothing; in a batch, bad items are reported by index and reason while the
good ones are stored. Credentials: wrong, rotated or disabled write keys are refused; a write key reads
nothing from the platform API.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from typing import Any

import pytest

from tests.conftest import Api

Body = dict[str, Any] | list[Any] | bytes


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def track(i: int = 0, **kw: object) -> dict[str, object]:
    msg: dict[str, object] = {"type": "track", "event": "Product Viewed", "userId": f"u{i}",
                              "messageId": f"m-{i}", "properties": {"sku": "SKU-1"}}
    msg.update(kw)
    return msg


def post(api: Api, path: str, body: Body, headers: dict[str, str] | None = None) -> Any:
    if isinstance(body, bytes):
        return api.client.post(path, content=body, headers=headers or {})
    return api.client.post(path, json=body, headers=headers or {})


def stored(api: Api) -> list[str]:
    api.drain()
    return [str(r[0]) for r in api.sql("SELECT message_id FROM events ORDER BY message_id")]


def error_code(r: Any) -> str:
    body = r.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    return str(body["error"]["code"])


def rejected_metric(api: Api, code: str) -> float:
    for line in api.client.get("/metrics").text.splitlines():
        if line.startswith(f'siyu_events_rejected_total{{code="{code}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


NOT_UTF8 = b'{"userId": "u\xff\xfe", "event": "Signed Up", "messageId": "bad-utf8"}'
DEEP = b'{"userId": "u", "event": "x", "properties": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
BIG = "x" * (33 * 1024)

# (path, body, status, error.code): rejected whole, with the single endpoints' and batch's codes.
REJECTED: dict[str, tuple[str, Any, int, str]] = {
    "malformed JSON": ("/v1/track", b'{"userId": "u", "event": ', 400, "invalid_json"),
    "malformed JSON (batch)": ("/v1/batch", b'{"batch": [{"type": "track"', 400, "invalid_json"),
    "not JSON at all": ("/v1/identify", b"userId=u1&traits=x", 400, "invalid_json"),
    "NaN is not JSON": ("/v1/track", b'{"userId": "u", "event": "x", "properties": {"v": NaN}}', 400,
                        "invalid_json"),
    "lone UTF-16 surrogate": ("/v1/track", b'{"userId": "\\ud800", "event": "x"}', 400, "invalid_json"),
    "nested too deeply": ("/v1/track", DEEP, 400, "invalid_json"),
    "invalid UTF-8 in a string": ("/v1/track", NOT_UTF8, 400, "invalid_utf8"),
    "invalid UTF-8 in properties": (
        "/v1/track", b'{"userId": "u", "event": "x", "properties": {"k": "\xc3\x28"}}', 400, "invalid_utf8"),
    "body is an array": ("/v1/track", [track(1)], 400, "invalid_field"),
    "body is a string": ("/v1/page", b'"hello"', 400, "invalid_field"),
    "batch body is an array": ("/v1/batch", [track(1)], 400, "invalid_batch"),
    "batch is not a list": ("/v1/batch", {"batch": track(1)}, 400, "invalid_batch"),
    "batch is missing": ("/v1/batch", {"messages": [track(1)]}, 400, "invalid_batch"),
    "batch is empty": ("/v1/batch", {"batch": []}, 400, "empty_batch"),
    "batch sentAt is a number": ("/v1/batch", {"batch": [track(1)], "sentAt": 17}, 400, "invalid_batch"),
    "every batch item is bad": ("/v1/batch", {"batch": [1, "two", None, {"type": "track"}]}, 400,
                                "all_messages_rejected"),
    "properties is a string": ("/v1/track", track(1, properties="sku=1"), 400, "invalid_field"),
    "traits is a list": ("/v1/identify", {"userId": "u", "traits": ["vip"]}, 400, "invalid_field"),
    "context is a string": ("/v1/track", track(1, context="wechat"), 400, "invalid_field"),
    "userId is an object": ("/v1/track", track(1, userId={"id": 1}), 400, "invalid_field"),
    "userId is a float": ("/v1/track", track(1, userId=1.5), 400, "invalid_field"),
    "userId is a boolean": ("/v1/track", track(1, userId=True), 400, "invalid_field"),
    "userId too long": ("/v1/track", track(1, userId="u" * 1025), 400, "invalid_field"),
    "event is a number": ("/v1/track", track(1, event=42), 400, "invalid_field"),
    "event name too long": ("/v1/track", track(1, event="E" * 513), 400, "invalid_field"),
    "messageId is a number": ("/v1/track", track(1, messageId=7), 400, "invalid_field"),
    "messageId too long": ("/v1/track", track(1, messageId="m" * 101), 400, "invalid_message_id"),
    "no userId or anonymousId": ("/v1/track", {"event": "x", "messageId": "m1"}, 400, "missing_id"),
    "blank ids": ("/v1/identify", {"userId": "  ", "anonymousId": "", "traits": {}}, 400, "missing_id"),
    "track without event": ("/v1/track", {"userId": "u", "messageId": "m1"}, 400, "missing_event"),
    "track with empty event": ("/v1/t", track(1, event="   "), 400, "missing_event"),
    "alias without previousId": ("/v1/alias", {"userId": "u", "messageId": "m1"}, 400, "missing_previous_id"),
    "alias without userId": ("/v1/a", {"previousId": "anon-1"}, 400, "missing_previous_id"),
    "group without groupId": ("/v1/group", {"userId": "u", "traits": {"name": "ACME"}}, 400,
                              "missing_group_id"),
    "timestamp is not a time": ("/v1/track", track(1, timestamp="yesterday"), 400, "invalid_timestamp"),
    "timestamp is a number": ("/v1/track", track(1, timestamp=1700000000), 400, "invalid_field"),
    "timestamp in year 9999": ("/v1/track", track(1, timestamp="9999-12-31T23:59:59Z"), 400,
                               "invalid_timestamp"),
    "timestamp in year 1": ("/v1/track", track(1, timestamp="0001-01-01T00:00:00+14:00"), 400,
                            "invalid_timestamp"),
    "corrected time out of range": (
        "/v1/track", track(1, timestamp="2199-12-31T00:00:00Z", sentAt="1900-01-02T00:00:00Z"), 400,
        "invalid_timestamp"),
    "sentAt is not a time": ("/v1/track", track(1, sentAt="2024-13-45"), 400, "invalid_timestamp"),
    "single message over 32 KB": ("/v1/track", track(1, properties={"blob": BIG}), 413, "payload_too_large"),
    "batch over 500 KB": ("/v1/batch", {"batch": [track(i, properties={"blob": "y" * 20_000})
                                                  for i in range(30)]}, 413, "payload_too_large"),
}


@pytest.mark.parametrize("case", list(REJECTED))
def test_rejected_requests_say_why_and_store_nothing(api: Api, case: str) -> None:
    path, body, status, code = REJECTED[case]
    r = post(api, path, body, basic(api.keys["web"]))
    assert r.status_code == status, r.text
    assert error_code(r) == code
    assert stored(api) == []


def test_a_declared_length_over_the_limit_is_refused_before_reading(api: Api) -> None:
    r = api.client.post("/v1/batch", content=b"{}", headers={**basic(api.keys["web"]),
                                                             "Content-Length": str(600 * 1024)})
    assert r.status_code == 413 and error_code(r) == "payload_too_large"


@pytest.mark.parametrize("encoding,body,status,code", [
    ("gzip", b"\x1f\x8b\x08\x00 this is not deflate", 400, "invalid_gzip"),
    ("gzip", gzip.compress(json.dumps(track(1)).encode())[:-6], 400, "invalid_gzip"),  # truncated
    ("gzip", json.dumps(track(1)).encode(), 400, "invalid_gzip"),  # says gzip, is not
    ("br", json.dumps(track(1)).encode(), 415, "unsupported_encoding"),
    ("deflate", json.dumps(track(1)).encode(), 415, "unsupported_encoding"),
])
def test_bad_compression(api: Api, encoding: str, body: bytes, status: int, code: str) -> None:
    r = api.client.post("/v1/track", content=body,
                        headers={**basic(api.keys["web"]), "Content-Encoding": encoding})
    assert r.status_code == status, r.text
    assert error_code(r) == code
    assert stored(api) == []


def test_one_bad_item_among_99_good_ones(api: Api) -> None:
    batch = [track(i, messageId=f"m-{i:03d}") for i in range(100)]
    del batch[37]["userId"]
    before = rejected_metric(api, "missing_id")
    r = post(api, "/v1/batch", {"batch": batch}, basic(api.keys["web"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["accepted"] == 99
    assert [(x["index"], x["code"]) for x in body["rejected"]] == [(37, "missing_id")]
    assert body["rejected"][0]["message"]
    assert stored(api) == [f"m-{i:03d}" for i in range(100) if i != 37]
    assert rejected_metric(api, "missing_id") == before + 1


def test_every_kind_of_bad_item_is_reported_by_index_and_the_rest_stored(api: Api) -> None:
    bad: dict[int, tuple[object, str]] = {
        1: ({"type": "track", "userId": "u", "event": "x", "properties": {"blob": BIG}}, "message_too_large"),
        3: ("not an object", "invalid_field"),
        4: ({"type": "launch", "userId": "u"}, "invalid_type"),
        5: ({"userId": "u", "event": "no type"}, "invalid_type"),
        6: (track(6, properties=[1, 2]), "invalid_field"),
        7: (track(7, userId={"nested": True}), "invalid_field"),
        8: (track(8, messageId="x" * 101), "invalid_message_id"),
        9: (track(9, event=""), "missing_event"),
        10: ({"type": "alias", "userId": "u"}, "missing_previous_id"),
        11: ({"type": "group", "userId": "u"}, "missing_group_id"),
        12: (track(12, timestamp="not a time"), "invalid_timestamp"),
        13: ({"type": "identify", "traits": {"a": 1}}, "missing_id"),
    }
    items: list[object] = [bad[i][0] if i in bad else track(i) for i in range(16)]
    r = post(api, "/v1/batch", {"batch": items}, basic(api.keys["app"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(x["index"], x["code"]) for x in body["rejected"]] == [(i, code) for i, (_, code) in bad.items()]
    assert body["accepted"] == 16 - len(bad)
    assert stored(api) == sorted(f"m-{i}" for i in range(16) if i not in bad)


def test_invalid_utf8_in_one_batch_item_rejects_only_that_item(api: Api) -> None:
    good = json.dumps(track(1)).encode()
    body = b'{"batch": [' + good + b", " + NOT_UTF8.replace(b"}", b', "type": "identify"}') + b"]}"
    r = api.client.post("/v1/batch", content=body, headers=basic(api.keys["web"]))
    assert r.status_code == 200, r.text
    assert [(x["index"], x["code"]) for x in r.json()["rejected"]] == [(1, "invalid_utf8")]
    assert stored(api) == ["m-1"]


def test_a_good_gzip_batch_with_a_bad_item(api: Api) -> None:
    body = gzip.compress(json.dumps({"batch": [track(1), {"type": "track", "userId": "u"}]}).encode())
    r = api.client.post("/v1/batch", content=body,
                        headers={**basic(api.keys["web"]), "Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1 and r.json()["rejected"][0]["code"] == "missing_event"
    assert stored(api) == ["m-1"]


# -- credentials on the tracking API ---------------------------------------------------------------

def test_missing_and_wrong_credentials_are_401(api: Api) -> None:
    cases: list[tuple[dict[str, str], Body, str]] = [
        ({}, track(1), "missing_write_key"),
        ({"Authorization": "Basic "}, track(1), "missing_write_key"),
        ({}, track(1, writeKey=""), "missing_write_key"),
        (basic("wk_not-a-key"), track(1), "invalid_write_key"),
        ({}, track(1, writeKey="wk_not-a-key"), "invalid_write_key"),
        ({"Authorization": "Basic %%%not-base64"}, track(1), "invalid_write_key"),
        ({"Authorization": "Bearer sbt_unknown"}, track(1), "invalid_write_key"),
        # an operator's API token is not a write key
        ({"Authorization": f"Bearer {api.admin}"}, track(1), "invalid_write_key"),
        # a wrong key is a 401 whatever the body
        (basic("wk_not-a-key"), track(1, userId={"x": 1}), "invalid_write_key"),
        (basic("wk_not-a-key"), {"batch": "nope"}, "invalid_write_key"),
    ]
    for headers, body, code in cases:
        for path in ("/v1/track", "/v1/batch"):
            payload = body
            if path == "/v1/batch" and isinstance(body, dict) and "batch" not in body:
                item = dict(body)
                payload = {"batch": [item]}
                if "writeKey" in item:  # a batch carries its key at the top
                    payload["writeKey"] = item.pop("writeKey")
            r = post(api, path, payload, headers)
            assert r.status_code == 401, (headers, body, r.text)
            assert error_code(r) == code, (headers, body)
    assert stored(api) == []


def test_the_key_of_another_channel_files_events_under_that_channel(api: Api) -> None:
    # A write key only sends for its own source: the channel comes from the key, never from the body.
    msg = track(1, context={"channel": "server"}, channel="server")
    assert post(api, "/v1/track", msg, basic(api.keys["miniprogram"])).status_code == 200
    api.drain()
    assert api.sql("SELECT channel, source_id FROM events") == [["miniprogram", api.source_ids["miniprogram"]]]


def _send(api: Api, key: str, i: int) -> int:
    return int(post(api, "/v1/track", track(i), basic(key)).status_code)


def test_rotated_key_without_grace_is_refused_at_once(api: Api) -> None:
    old = api.keys["web"]
    assert _send(api, old, 1) == 200  # and now it sits in the key cache
    r = api.client.post(f"/api/v1/sources/{api.source_ids['web']}/rotate", json={"grace_seconds": 0},
                        headers=api.admin_headers())
    assert r.status_code == 200, r.text
    new = r.json()["key"]
    assert new != old
    refused = post(api, "/v1/track", track(2), basic(old))
    assert refused.status_code == 401 and error_code(refused) == "invalid_write_key"
    assert _send(api, new, 3) == 200
    assert stored(api) == ["m-1", "m-3"]


def test_rotated_key_works_during_its_grace_period_then_stops(api: Api) -> None:
    old = api.keys["app"]
    sid = api.source_ids["app"]
    r = api.client.post(f"/api/v1/sources/{sid}/rotate", json={"grace_seconds": 3600},
                        headers=api.admin_headers())
    assert r.status_code == 200, r.text
    new = r.json()["key"]
    assert _send(api, old, 1) == 200
    assert _send(api, new, 2) == 200
    keys = api.client.get(f"/api/v1/sources/{sid}", headers=api.admin_headers()).json()["keys"]
    assert sorted(k["expires_at"] is None for k in keys) == [False, True]

    # A short grace period runs out (within the key cache's lifetime, a couple of seconds).
    r = api.client.post(f"/api/v1/sources/{sid}/rotate", json={"grace_seconds": 1},
                        headers=api.admin_headers())
    newest = r.json()["key"]
    deadline = time.monotonic() + 30
    while _send(api, new, 3) == 200 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert _send(api, new, 4) == 401
    assert _send(api, old, 5) == 401
    assert _send(api, newest, 6) == 200


def test_disabled_source_is_refused_and_enabling_it_again_works(api: Api) -> None:
    key, sid = api.keys["miniprogram"], api.source_ids["miniprogram"]
    assert _send(api, key, 1) == 200
    r = api.client.post(f"/api/v1/sources/{sid}/disable", headers=api.admin_headers())
    assert r.status_code == 200 and r.json()["enabled"] is False
    refused = post(api, "/v1/batch", {"batch": [track(2)]}, basic(key))
    assert refused.status_code == 401 and error_code(refused) == "invalid_write_key"
    assert _send(api, key, 3) == 401
    # the other sources are not affected
    assert _send(api, api.keys["web"], 4) == 200
    r = api.client.post(f"/api/v1/sources/{sid}/enable", headers=api.admin_headers())
    assert r.status_code == 200 and r.json()["enabled"] is True
    assert _send(api, key, 5) == 200
    api.drain()
    rows = api.sql("SELECT channel, message_id FROM events ORDER BY message_id")
    assert rows == [["miniprogram", "m-1"], ["web", "m-4"], ["miniprogram", "m-5"]]


# -- the query API ----------------------------------------------------------------------------------

def test_the_query_api_needs_an_operator_token(api: Api) -> None:
    assert _send(api, api.keys["web"], 1) == 200
    api.drain()
    sid = api.source_ids["web"]
    bearer = api.client.post(f"/api/v1/sources/{sid}/bearer-token", json={},
                             headers=api.admin_headers()).json()["key"]
    revoked = api.client.post("/api/v1/tokens", json={"name": "leaver"}, headers=api.admin_headers()).json()
    r = api.client.post(f"/api/v1/tokens/{revoked['id']}/revoke", headers=api.admin_headers())
    assert r.status_code == 200 and r.json()["revoked_at"]
    refused = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer sat_not-a-token"},
        {"Authorization": f"Token {api.admin}"},
        {"Authorization": f"Bearer {api.keys['web']}"},  # a write key reads nothing
        basic(api.keys["web"]),
        basic(api.admin),
        {"Authorization": f"Bearer {bearer}"},  # nor does a source's bearer token
        {"Authorization": f"Bearer {revoked['token']}"},
    ]
    for headers in refused:
        r = api.client.post("/api/v1/query", json={"sql": "SELECT * FROM events"}, headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert error_code(r) == "invalid_token"
        assert "m-1" not in r.text
    assert api.sql("SELECT message_id FROM events") == [["m-1"]]


@pytest.mark.parametrize("sql,code", [
    ("DELETE FROM events", "query_not_read_only"),
    ("INSERT INTO events SELECT * FROM events", "query_not_read_only"),
    ("UPDATE events SET user_id = 'x'", "query_not_read_only"),
    ("DROP TABLE events", "query_not_read_only"),
    ("CREATE TABLE t AS SELECT 1", "query_not_read_only"),
    ("COPY events TO '/tmp/siyu-leak.csv'", "query_not_read_only"),
    ("ATTACH '/tmp/other.duckdb' AS other", "query_not_read_only"),
    ("PRAGMA version", "query_not_read_only"),
    ("SELECT 1; DELETE FROM events", "query_not_read_only"),
    ("WITH x AS (SELECT 1) DELETE FROM events", "query_not_read_only"),
    ("/* hi */ DELETE FROM events", "query_not_read_only"),
    ("SELECT * FROM read_csv('/etc/passwd')", "query_failed"),
    ("SELECT FROM WHERE", "query_failed"),
    ("SELECT * FROM no_such_table", "query_failed"),
    ("SELECT 'infinity'::TIMESTAMP", "query_failed"),
])
def test_the_query_api_runs_only_one_read_only_select(api: Api, sql: str, code: str) -> None:
    assert _send(api, api.keys["web"], 1) == 200
    api.drain()
    r = api.client.post("/api/v1/query", json={"sql": sql}, headers=api.admin_headers())
    assert r.status_code == 400, r.text
    assert error_code(r) == code
    assert api.sql("SELECT message_id, user_id FROM events") == [["m-1", "u1"]]


@pytest.mark.parametrize("body", [{"sql": ""}, {"sql": 5}, {}, {"sql": "SELECT 1", "max_rows": 0}])
def test_the_query_api_validates_its_body(api: Api, body: dict[str, object]) -> None:
    r = api.client.post("/api/v1/query", json=body, headers=api.admin_headers())
    assert r.status_code == 422, r.text
    assert error_code(r) == "validation_error"


def test_siyu_reserved_ids_are_refused(api: Api) -> None:
    """Anonymous ids starting with ``siyu:`` name persons' own domain events; a client cannot claim one."""
    r = api.client.post("/v1/batch", headers=basic(api.keys["web"]), json={"batch": [
        {"type": "track", "event": "x", "anonymousId": "siyu:01a2", "messageId": "r1"},
        {"type": "identify", "userId": "u1", "anonymousId": "ok-anon", "messageId": "r2"},
        {"type": "alias", "userId": "u1", "previousId": "siyu:01a2", "messageId": "r3"}]})
    assert r.status_code == 200, r.text
    assert [(x["index"], x["code"]) for x in r.json()["rejected"]] == [(0, "reserved_identifier"),
                                                                       (2, "reserved_identifier")]
