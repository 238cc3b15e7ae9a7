"""Per-source rate limits: 429 with an integer ``Retry-After`` once the burst is spent, accepted again after
waiting that long; on the server runtime every API process shares one budget through Redis.

The budget is spent by one batch (one request), so the refusal that follows does not depend on how fast
this machine sends; a refusal is only missed if the two requests are further apart than the refill time
(seconds here), and waiting ``Retry-After`` seconds is by construction enough to be accepted again.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from siyu.app import create_app
from siyu.auth.schemas import Role
from siyu.auth.service import create_token
from siyu.collect.ratelimit import RedisRateLimiter
from tests.conftest import Api, make_settings
from tests.support import service_url

RATE = 10.0  # events per second
BURST_S = 3.0  # so the burst is 30 events


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def batch(prefix: str, n: int) -> dict[str, Any]:
    return {"batch": [{"type": "track", "event": "Product Viewed", "anonymousId": "a1",
                       "messageId": f"{prefix}-{i}"} for i in range(n)]}


def limited_source(client: TestClient, admin: str, rate: float | None = RATE, name: str = "limited") -> str:
    r = client.post("/api/v1/sources", json={"channel": "app", "name": name, "rate_limit": rate},
                    headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 201, r.text
    return str(r.json()["write_key"])


def retry_after(r: Any, most: float = BURST_S) -> int:
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "rate_limited"
    value = r.headers["Retry-After"]
    assert value.isdigit(), value  # integer seconds: what the Segment clients parse
    seconds = int(value)
    assert 1 <= seconds <= most
    assert r.json()["error"]["details"]["retry_after_s"] == seconds
    return seconds


@pytest.fixture
def limited_api(tmp_path: Path) -> Iterator[Api]:
    app = create_app(make_settings(tmp_path, rate_limit_burst_s=BURST_S), run_worker=False)
    with TestClient(app) as client:
        with app.state.runtime.db.session() as s:
            _, admin = create_token(s, Role.admin, "test")
        yield Api(client, admin, {}, {})


def test_burst_then_429_with_retry_after_then_accepted_again(limited_api: Api) -> None:
    api = limited_api
    key = limited_source(api.client, api.admin)
    assert api.client.post("/v1/batch", json=batch("a", 30), headers=basic(key)).status_code == 200
    refused = api.client.post("/v1/batch", json=batch("b", 30),
                              headers={**basic(key), "Origin": "https://shop.example"})
    wait = retry_after(refused)
    # a browser SDK may read the header
    assert "retry-after" in refused.headers["access-control-expose-headers"].lower()
    time.sleep(wait)
    assert api.client.post("/v1/batch", json=batch("b", 30), headers=basic(key)).status_code == 200
    api.drain()
    rows = api.sql("SELECT substr(message_id, 1, 1), count(*) FROM events GROUP BY 1 ORDER BY 1")
    assert rows == [["a", 30], ["b", 30]]  # nothing of a refused request was stored


def test_single_calls_are_limited_too(limited_api: Api) -> None:
    api = limited_api
    key = limited_source(api.client, api.admin, rate=0.25)  # one event per 4 s
    msg = batch("s", 1)["batch"][0]
    assert api.client.post("/v1/t", json=msg, headers=basic(key)).status_code == 200
    retry_after(api.client.post("/v1/t", json=msg, headers=basic(key)), most=4)


def test_limits_are_per_source_and_zero_means_unlimited(tmp_path: Path) -> None:
    # A deployment default of 10 events/s applies to sources without their own limit.
    app = create_app(make_settings(tmp_path, rate_limit_burst_s=BURST_S, rate_limit_events_per_s=RATE),
                     run_worker=False)
    with TestClient(app) as client:
        with app.state.runtime.db.session() as s:
            _, admin = create_token(s, Role.admin, "test")
        default = limited_source(client, admin, rate=None, name="default")
        unlimited = limited_source(client, admin, rate=0, name="unlimited")
        other = limited_source(client, admin, rate=None, name="other")
        assert client.post("/v1/batch", json=batch("d", 30), headers=basic(default)).status_code == 200
        retry_after(client.post("/v1/batch", json=batch("d2", 30), headers=basic(default)))
        # another source has its own budget
        assert client.post("/v1/batch", json=batch("o", 30), headers=basic(other)).status_code == 200
        for i in range(5):
            r = client.post("/v1/batch", json=batch(f"u{i}", 100), headers=basic(unlimited))
            assert r.status_code == 200, r.text


def test_changing_a_sources_limit_applies_at_once(limited_api: Api) -> None:
    api = limited_api
    r = api.client.post("/api/v1/sources", json={"channel": "web", "name": "w", "rate_limit": RATE},
                        headers=api.admin_headers())
    key, sid = r.json()["write_key"], r.json()["id"]
    assert api.client.post("/v1/batch", json=batch("a", 30), headers=basic(key)).status_code == 200
    retry_after(api.client.post("/v1/batch", json=batch("b", 30), headers=basic(key)))
    r = api.client.patch(f"/api/v1/sources/{sid}", json={"rate_limit": 0}, headers=api.admin_headers())
    assert r.status_code == 200 and r.json()["rate_limit"] == 0
    assert api.client.post("/v1/batch", json=batch("b", 30), headers=basic(key)).status_code == 200


# -- Redis: one budget for every API process -------------------------------------------------------

def test_redis_limiter_shares_one_budget_between_two_instances() -> None:
    url = service_url("REDIS")
    key = f"test-{uuid.uuid4().hex}"

    async def go() -> tuple[float, float, float, float]:
        first, second = RedisRateLimiter(url), RedisRateLimiter(url)  # as two API processes would
        try:
            spent = await first.acquire(key, 30, RATE, BURST_S)
            refused = await second.acquire(key, 30, RATE, BURST_S)
            refused_again = await first.acquire(key, 30, RATE, BURST_S)
            await asyncio.sleep(refused + 0.05)  # the loop may wake a hair early
            accepted = await second.acquire(key, 30, RATE, BURST_S)
            return spent, refused, refused_again, accepted
        finally:
            await first.close()
            await second.close()

    spent, refused, refused_again, accepted = asyncio.run(go())
    assert spent == 0
    assert 0 < refused <= BURST_S
    assert 0 < refused_again <= BURST_S  # a refusal does not use up budget
    assert accepted == 0


def test_api_on_redis_refuses_what_another_process_already_spent(tmp_path: Path) -> None:
    url = service_url("REDIS")
    app = create_app(make_settings(tmp_path, rate_limit_burst_s=BURST_S, redis_url=url), run_worker=False)
    with TestClient(app) as client:
        assert isinstance(app.state.runtime.limiter, RedisRateLimiter)
        with app.state.runtime.db.session() as s:
            _, admin = create_token(s, Role.admin, "test")
        r = client.post("/api/v1/sources", json={"channel": "app", "name": "shared", "rate_limit": RATE},
                        headers={"Authorization": f"Bearer {admin}"})
        key, sid = r.json()["write_key"], r.json()["id"]

        async def other_process_spends() -> float:
            limiter = RedisRateLimiter(url)
            try:
                return await limiter.acquire(sid, 30, RATE, BURST_S)
            finally:
                await limiter.close()

        assert asyncio.run(other_process_spends()) == 0
        wait = retry_after(client.post("/v1/batch", json=batch("a", 30), headers=basic(key)))
        time.sleep(wait)
        assert client.post("/v1/batch", json=batch("a", 30), headers=basic(key)).status_code == 200
