"""The tracking API as Segment/RudderStack clients use it (reference/tracking-api.md)."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Api


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def track(i: int = 0, **kw: object) -> dict[str, object]:
    msg: dict[str, object] = {"type": "track", "event": "Product Viewed", "userId": f"u{i}",
                              "messageId": f"m-{i}", "properties": {"sku": "SKU-1", "price": 1999}}
    msg.update(kw)
    return msg


@pytest.mark.parametrize("path,msg_type", [
    ("track", "track"), ("identify", "identify"), ("page", "page"), ("screen", "screen"),
    ("group", "group"), ("alias", "alias"), ("t", "track"), ("i", "identify"), ("p", "page"),
    ("s", "screen"), ("g", "group"), ("a", "alias"),
])
def test_every_single_endpoint_stores_its_type(api: Api, path: str, msg_type: str) -> None:
    body = {"userId": "u1", "anonymousId": "a1", "event": "Signed Up", "name": "Home", "groupId": "g1",
            "previousId": "a1", "traits": {"plan": "gold"}, "messageId": f"m-{path}"}
    r = api.client.post(f"/v1/{path}", json=body, headers=basic(api.keys["web"]))
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "accepted": 1, "rejected": []}
    api.drain()
    rows = api.sql(f"SELECT type, channel, user_id, traits FROM events WHERE message_id = 'm-{path}'")
    assert len(rows) == 1
    assert rows[0][0] == msg_type and rows[0][1] == "web" and rows[0][2] == "u1"
    assert json.loads(str(rows[0][3])) == {"plan": "gold"}


def test_three_ways_to_authenticate(api: Api) -> None:
    key = api.keys["app"]
    assert api.client.post("/v1/track", json=track(1), headers=basic(key)).status_code == 200
    assert api.client.post("/v1/track", json=track(2, writeKey=key)).status_code == 200
    r = api.client.post(f"/api/v1/sources/{api.source_ids['app']}/bearer-token", json={},
                        headers=api.admin_headers())
    assert r.status_code == 200, r.text
    bearer = r.json()["key"]
    assert api.client.post("/v1/track", json=track(3), headers={"Authorization": f"Bearer {bearer}"}).status_code == 200
    api.drain()
    assert api.sql("SELECT count(*) FROM events")[0][0] == 3


def test_browser_short_batch_path_with_text_plain_and_cors(api: Api) -> None:
    body = {"batch": [track(i) for i in range(3)], "writeKey": api.keys["web"],
            "sentAt": datetime.now(UTC).isoformat()}
    r = api.client.post("/v1/b", content=json.dumps(body), headers={"Content-Type": "text/plain",
                                                                      "Origin": "https://shop.example"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 3
    assert r.headers["access-control-allow-origin"] in ("*", "https://shop.example")
    pre = api.client.options("/v1/t", headers={"Origin": "https://shop.example",
                                               "Access-Control-Request-Method": "POST",
                                               "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 200
    assert "POST" in pre.headers["access-control-allow-methods"]


def test_gzip_bodies(api: Api) -> None:
    body = gzip.compress(json.dumps({"batch": [track(i) for i in range(5)]}).encode())
    r = api.client.post("/v1/batch", content=body,
                        headers={**basic(api.keys["web"]), "Content-Encoding": "gzip",
                                 "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 5


def test_gzip_bomb_is_413_not_a_crash(api: Api) -> None:
    inner = b'{"batch": [' + b" " * (2 * 1024 * 1024) + b"]}"
    r = api.client.post("/v1/batch", content=gzip.compress(inner),
                        headers={**basic(api.keys["web"]), "Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


def test_batch_context_applies_to_every_item_and_item_wins(api: Api) -> None:
    body = {"batch": [track(1), track(2, context={"locale": "en-US"})],
            "context": {"locale": "zh-CN", "campaign": {"source": "wechat", "name": "double11"}}}
    assert api.client.post("/v1/batch", json=body, headers=basic(api.keys["miniprogram"])).status_code == 200
    api.drain()
    rows = api.sql("SELECT message_id, json_extract_string(context, '$.locale'), utm_source, utm_campaign "
                   "FROM events ORDER BY message_id")
    assert rows == [["m-1", "zh-CN", "wechat", "double11"], ["m-2", "en-US", "wechat", "double11"]]


def test_utm_from_page_url_query_and_scene_and_channel(api: Api) -> None:
    page = {"type": "page", "anonymousId": "a1", "messageId": "p1", "name": "Product",
            "context": {"page": {"url": "https://shop.example/p/1?utm_source=baidu&utm_medium=cpc"
                                        "&utm_campaign=spring&utm_term=sneakers&utm_content=ad2",
                                 "referrer": "https://www.baidu.com/"}}}
    mp = track(5, context={"miniprogram": {"scene": 1007}})
    r = api.client.post("/v1/batch", json={"batch": [page]}, headers=basic(api.keys["web"]))
    assert r.status_code == 200
    assert api.client.post("/v1/track", json=mp, headers=basic(api.keys["miniprogram"])).status_code == 200
    api.drain()
    rows = api.sql("SELECT channel, utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer, scene "
                   "FROM events ORDER BY channel")
    assert rows == [
        ["miniprogram", None, None, None, None, None, None, "1007"],
        ["web", "baidu", "cpc", "spring", "sneakers", "ad2", "https://www.baidu.com/", None],
    ]


def test_utm_from_properties_of_a_page_call_without_page_context(api: Api) -> None:
    page = {"type": "page", "anonymousId": "a1", "messageId": "p2",
            "properties": {"url": "https://shop.example/?utm_source=zhihu", "path": "/"}}
    assert api.client.post("/v1/page", json=page, headers=basic(api.keys["web"])).status_code == 200
    api.drain()
    assert api.sql("SELECT utm_source, page_url FROM events") == [["zhihu", "https://shop.example/?utm_source=zhihu"]]


def _ts(rows: list[list[object]]) -> datetime:
    return datetime.fromisoformat(str(rows[0][0]).replace("Z", "+00:00")).replace(tzinfo=UTC)


def test_clock_skew_is_corrected_for_client_sources(api: Api) -> None:
    # The phone's clock is 2 hours behind: it says it sent at 08:00 what happened at 07:59.
    now = datetime.now(UTC)
    skew = timedelta(hours=2)
    sent = now - skew
    happened = sent - timedelta(minutes=1)
    body = {"batch": [track(1, timestamp=happened.isoformat())], "sentAt": sent.isoformat()}
    assert api.client.post("/v1/batch", json=body, headers=basic(api.keys["app"])).status_code == 200
    api.drain()
    ts = _ts(api.sql("SELECT timestamp FROM events"))
    received = _ts(api.sql("SELECT received_at FROM events"))
    # timestamp = receivedAt - (sentAt - originalTimestamp): one minute before it was received
    assert abs((received - ts) - timedelta(minutes=1)) < timedelta(milliseconds=2)
    assert abs(ts - (now - timedelta(minutes=1))) < timedelta(seconds=5)


def test_small_differences_are_network_delay_and_keep_order(api: Api) -> None:
    now = datetime.now(UTC)
    events = [track(i, timestamp=(now - timedelta(seconds=10 - i)).isoformat()) for i in range(3)]
    body = {"batch": events, "sentAt": (now - timedelta(seconds=1)).isoformat()}
    assert api.client.post("/v1/batch", json=body, headers=basic(api.keys["app"])).status_code == 200
    api.drain()
    rows = api.sql("SELECT message_id, timestamp, original_timestamp FROM events ORDER BY timestamp")
    assert [r[0] for r in rows] == ["m-0", "m-1", "m-2"]
    assert all(r[1] == r[2] for r in rows)


def test_server_sources_keep_their_timestamp(api: Api) -> None:
    old = "2023-03-01T08:00:00.000Z"
    body = {"batch": [track(1, timestamp=old)], "sentAt": (datetime.now(UTC) - timedelta(days=1)).isoformat()}
    assert api.client.post("/v1/batch", json=body, headers=basic(api.keys["server"])).status_code == 200
    api.drain()
    assert api.sql("SELECT timestamp FROM events") == [["2023-03-01T08:00:00.000000Z"]]


def _dedup_metric(api: Api) -> float:
    for line in api.client.get("/metrics").text.splitlines():
        if line.startswith("siyu_events_deduplicated_total "):
            return float(line.split()[1])
    raise AssertionError("metric missing")


def test_duplicates_are_stored_once_per_source(api: Api) -> None:
    before = _dedup_metric(api)  # the counter is per process; other tests may have moved it
    for _ in range(3):
        assert api.client.post("/v1/track", json=track(7), headers=basic(api.keys["web"])).status_code == 200
    # the same messageId from another source is another event (analytics-ruby #241)
    assert api.client.post("/v1/track", json=track(7), headers=basic(api.keys["app"])).status_code == 200
    # and a duplicate inside one batch
    r = api.client.post("/v1/batch", json={"batch": [track(8), track(8)]}, headers=basic(api.keys["web"]))
    assert r.status_code == 200
    api.drain()
    rows = api.sql("SELECT channel, message_id, count(*) FROM events GROUP BY ALL ORDER BY ALL")
    assert rows == [["app", "m-7", 1], ["web", "m-7", 1], ["web", "m-8", 1]]
    assert _dedup_metric(api) - before == 3


def test_missing_message_id_gets_one(api: Api) -> None:
    msg = track(1)
    del msg["messageId"]
    assert api.client.post("/v1/track", json=msg, headers=basic(api.keys["web"])).status_code == 200
    api.drain()
    (mid,) = api.sql("SELECT message_id FROM events")[0]
    assert isinstance(mid, str) and mid.startswith("srv-")
