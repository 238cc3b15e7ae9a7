"""The real ``segment-analytics-python`` client, pointed at a running ``siyu serve`` with ``host=``.

10,000 mixed messages (track, identify, page, screen, alias, group) with explicit messageIds and
timestamps: every one is stored exactly once, under the source's channel, with the timestamp it was sent
with; sending the same 10,000 again adds nothing. Runs on the embedded runtime and on PostgreSQL +
RabbitMQ (event store: DuckDB inside the serve process).

About time: the client sends ``timestamp`` per message and sets ``sentAt`` from the same machine's clock
when it posts, so the server sees no clock skew (only network and queueing delay, which is below the
tolerance and not applied) and keeps each timestamp as sent. The tolerance is raised to 30 s for this run
so that a request queued for a few seconds on a loaded test machine is still "delay, not skew"; one batch
sent by hand with a ``sentAt`` two hours behind checks that real skew is corrected by the live server.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from segment.analytics.client import Client

from tests.support import (
    LiveServer,
    base_env,
    cli,
    delete_rabbit_namespace,
    postgres_database,
    query,
    rabbit_namespace,
    service_url,
    start_server,
    wait_for_count,
)

TOTAL = 10_000
TYPES = ("track", "identify", "page", "screen", "alias", "group")


@pytest.fixture(params=["embedded", "server"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LiveServer, str, str]]:
    """A live ``siyu serve``; yields (server, a web source's write key, an admin token)."""
    with ExitStack() as stack:
        env = base_env(tmp_path / "data", SIYU_CLOCK_SKEW_TOLERANCE_S="30")
        if request.param == "server":
            amqp = service_url("AMQP")
            namespace = rabbit_namespace()
            env.update({"SIYU_DATABASE_URL": stack.enter_context(postgres_database()),
                        "SIYU_BUS_URL": amqp, "SIYU_BUS_NAMESPACE": namespace})
            stack.callback(delete_rabbit_namespace, amqp, namespace)
        key = cli(env, "sources", "create", "--channel", "web", "--name", "官方网站")["write_key"]
        token = cli(env, "tokens", "create", "--role", "admin")["token"]
        srv = LiveServer(env, log_path=tmp_path / "server.log")
        start_server(srv, timeout=120)
        stack.callback(srv.stop)
        yield srv, key, token
        if request.param == "server":  # it really ran on PostgreSQL and RabbitMQ
            assert not (tmp_path / "data" / "siyu.sqlite3").exists()
            assert not (tmp_path / "data" / "bus.sqlite3").exists()


def send_all(client: Client, run: str, base: datetime) -> Counter[str]:
    """Enqueue the 10,000 messages (the same ones for the same ``run`` and ``base``); returns the count per
    type."""
    sent: Counter[str] = Counter()
    for i in range(TOTAL):
        kind = TYPES[i % len(TYPES)]
        common: dict[str, Any] = {"message_id": f"{run}-{i:05d}", "timestamp": base + timedelta(milliseconds=i)}
        user = f"user-{i % 500}"
        if kind == "track":
            ok, _ = client.track(user, "Product Viewed", {"sku": f"SKU-{i % 37}", "price": 1999}, **common)
        elif kind == "identify":
            ok, _ = client.identify(user, {"name": "张三", "tier": "gold"}, **common)
        elif kind == "page":
            ok, _ = client.page(user, "Shop", "Product", {"path": f"/p/{i}"}, **common)
        elif kind == "screen":
            ok, _ = client.screen(user, "App", "Cart", {"items": i % 5}, **common)
        elif kind == "alias":
            ok, _ = client.alias(f"anon-{i}", user, **common)
        else:
            ok, _ = client.group(user, f"company-{i % 20}", {"name": "ACME"}, **common)
        assert ok, f"the client's queue refused message {i}"
        sent[kind] += 1
    return sent


def deduplicated(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=30).text
    m = re.search(r"^siyu_events_deduplicated_total (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def stored_timestamps(url: str, token: str, run: str) -> dict[str, tuple[str, str, str, str]]:
    rows = query(url, token, "SELECT message_id, type, channel, source_id, timestamp FROM events "
                             f"WHERE message_id LIKE '{run}-%'")
    return {str(r[0]): (str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows}


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def test_segment_python_client_delivers_10000_exactly_once(server: tuple[LiveServer, str, str]) -> None:
    srv, key, token = server
    errors: list[tuple[Exception, list[Any]]] = []
    client = Client(key, host=srv.url, on_error=lambda e, batch: errors.append((e, batch)),
                    max_queue_size=TOTAL * 2, max_retries=10, timeout=60)
    run = uuid.uuid4().hex[:8]
    base = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    try:
        sent = send_all(client, run, base)
        client.flush()
    finally:
        client.join()
    assert errors == []
    assert wait_for_count(srv.url, token, TOTAL, timeout=300) == TOTAL

    rows = stored_timestamps(srv.url, token, run)
    assert len(rows) == TOTAL  # every messageId, each once
    assert Counter(t for t, _, _, _ in rows.values()) == sent
    assert {channel for _, channel, _, _ in rows.values()} == {"web"}
    source_id = next(iter(rows.values()))[2]
    assert query(srv.url, token, "SELECT DISTINCT source_id FROM events") == [[source_id]]
    wrong = {mid: ts for mid, (_, _, _, ts) in rows.items()
             if parse(ts) != base + timedelta(milliseconds=int(mid.split("-")[1]))}
    assert not wrong, f"{len(wrong)} timestamps differ from what was sent, e.g. {list(wrong.items())[:3]}"
    counts = query(srv.url, token, "SELECT type, count(*), count(DISTINCT message_id) FROM events GROUP BY type")
    assert {r[0]: (r[1], r[2]) for r in counts} == {t: (n, n) for t, n in sent.items()}
    alias = query(srv.url, token, f"SELECT previous_id, user_id FROM events WHERE message_id = '{run}-00004'")
    assert alias == [["anon-4", "user-4"]]

    # The same 10,000 again (a client that resends after a lost answer): nothing is added.
    before = deduplicated(srv.url)
    again = Client(key, host=srv.url, on_error=lambda e, batch: errors.append((e, batch)),
                   max_queue_size=TOTAL * 2, max_retries=10, timeout=60)
    try:
        assert send_all(again, run, base) == sent
        again.flush()
    finally:
        again.join()
    assert errors == []
    deadline = time.monotonic() + 300
    while deduplicated(srv.url) < before + TOTAL and time.monotonic() < deadline:
        time.sleep(0.2)
    assert deduplicated(srv.url) >= before + TOTAL  # the worker has seen every resent message
    assert query(srv.url, token, "SELECT count(*), count(DISTINCT message_id) FROM events") == [[TOTAL, TOTAL]]

    # Clock skew, through the live server: the phone's clock is two hours behind.
    now = datetime.now(UTC)
    sent_at = now - timedelta(hours=2)
    happened = sent_at - timedelta(minutes=1)
    body = {"batch": [{"type": "track", "event": "Order Completed", "userId": "skewed",
                       "messageId": f"{run}-skew-{n}", "timestamp": (happened + timedelta(seconds=n)).isoformat()}
                      for n in range(3)],
            "sentAt": sent_at.isoformat(), "writeKey": key}
    r = httpx.post(srv.url + "/v1/batch", json=body, timeout=60)
    assert r.status_code == 200 and r.json()["accepted"] == 3, r.text
    assert wait_for_count(srv.url, token, 3, where="user_id = 'skewed'") == 3
    skewed = query(srv.url, token, "SELECT message_id, timestamp, received_at, original_timestamp FROM events "
                                   "WHERE user_id = 'skewed' ORDER BY message_id")
    for n, (_, ts, received, original) in enumerate(skewed):
        # timestamp = receivedAt - (sentAt - originalTimestamp)
        assert parse(received) - parse(ts) == timedelta(minutes=1) - timedelta(seconds=n)
        assert parse(original) == happened + timedelta(seconds=n)
        assert abs(parse(received) - now) < timedelta(minutes=5)
