"""A live ``siyu serve`` for race tests, on the embedded runtime and the server runtime, and a way to
send many requests at the same instant."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.orders.shop import WEBHOOK_SECRET
from tests.support import (
    LiveServer,
    base_env,
    cli,
    delete_rabbit_namespace,
    postgres_database,
    rabbit_namespace,
    service_url,
    start_server,
)


@dataclass
class Live:
    url: str
    admin: str
    database_url: str

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> httpx.Response:
        return httpx.request(method, self.url + path, json=body, timeout=60,
                             headers={"Authorization": f"Bearer {token or self.admin}"})

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        r = self.call(method, path, body)
        assert r.status_code < 400, r.text
        return r.json()

    def sql(self, statement: str, **params: Any) -> None:
        url = self.database_url.replace("postgresql://", "postgresql+psycopg://")
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text(statement), params)
        engine.dispose()


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.server)])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Live]:
    with ExitStack() as stack:
        data = tmp_path / "data"
        env = base_env(data, SIYU_PAYMENT_WEBHOOK_SECRET=WEBHOOK_SECRET, SIYU_ORDER_SWEEP_INTERVAL_S="0.3")
        database_url = f"sqlite:///{data / 'siyu.sqlite3'}"
        if request.param == "server":
            amqp = service_url("AMQP")
            namespace = rabbit_namespace()
            database_url = stack.enter_context(postgres_database())
            env.update({"SIYU_DATABASE_URL": database_url, "SIYU_BUS_URL": amqp, "SIYU_BUS_NAMESPACE": namespace,
                        "SIYU_REDIS_URL": service_url("REDIS")})
            stack.callback(delete_rabbit_namespace, amqp, namespace)
        token = cli(env, "tokens", "create", "--role", "admin")["token"]
        srv = LiveServer(env, log_path=tmp_path / "server.log")
        start_server(srv, timeout=120)
        stack.callback(srv.stop)
        yield Live(srv.url, token, database_url)


def members(live: Live, n: int) -> list[str]:
    return [live.ok("POST", "/api/v1/identity/login", {"phone": f"1390000{i:04d}"})["member_token"]
            for i in range(n)]


REPEAT = int(os.environ.get("SIYU_TEST_RACE_REPEAT", "3"))  # CI: 3; 20 for an acceptance run (docs/architecture.md)


async def gather(requests: list[tuple[str, str, Any, dict[str, str]]], url: str) -> list[httpx.Response]:
    """Send every request at once (one connection each: a smaller pool stalls httpx), released together."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        gate = asyncio.Event()

        async def one(method: str, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
            await gate.wait()
            if isinstance(body, bytes):
                return await client.request(method, path, content=body, headers=headers)
            return await client.request(method, path, json=body, headers=headers)

        tasks = [asyncio.ensure_future(one(*r)) for r in requests]
        await asyncio.sleep(0.2)
        gate.set()
        return list(await asyncio.gather(*tasks))
