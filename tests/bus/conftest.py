"""Both bus implementations behind one fixture, so every contract test runs on each."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from siyu.bus.base import Bus, Consumer, Delivery
from siyu.bus.rabbitmq import RabbitBus
from siyu.bus.sqlite import SqliteBus
from tests.support import delete_rabbit_namespace, rabbit_namespace, service_url

T = TypeVar("T")


def run(coro: Awaitable[T], timeout: float = 120) -> T:
    """Run a coroutine to completion in a fresh event loop (pytest-asyncio is not used)."""

    async def _go() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(_go())


@dataclass
class BusKit:
    """How to make buses of one kind that share one store (a file, or a RabbitMQ namespace)."""

    kind: str
    make: Callable[..., Bus]
    groups: set[str] = field(default_factory=set)
    url: str = ""
    namespace: str = ""
    path: Path | None = None

    async def started(self, *, max_attempts: int = 20, lease_s: float = 60.0) -> Bus:
        bus = self.make(max_attempts=max_attempts, lease_s=lease_s)
        await bus.start()
        return bus

    async def declare(self, bus: Bus, group: str, patterns: list[str]) -> None:
        self.groups.add(group)
        await bus.declare_group(group, patterns)

    async def dead_count(self, bus: Bus) -> int:
        """Messages in the dead-letter store (not part of the interface: each implementation has its own)."""
        if isinstance(bus, SqliteBus):
            return await asyncio.to_thread(bus.dead_count)
        assert isinstance(bus, RabbitBus) and bus._conn is not None
        channel = await bus._conn.channel()
        try:
            q = await channel.declare_queue(bus.dead_name, passive=True)
            return int(q.declaration_result.message_count or 0)
        finally:
            await channel.close()


@pytest.fixture(params=["sqlite", pytest.param("rabbitmq", marks=pytest.mark.server)])
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BusKit]:
    if request.param == "sqlite":
        path = tmp_path / "bus.sqlite3"

        def make_sqlite(max_attempts: int = 20, lease_s: float = 60.0) -> Bus:
            return SqliteBus(path, lease_s=lease_s, max_attempts=max_attempts)

        yield BusKit("sqlite", make_sqlite, path=path)
        return
    url = service_url("AMQP")
    namespace = rabbit_namespace()

    def make_rabbit(max_attempts: int = 20, lease_s: float = 60.0) -> Bus:
        return RabbitBus(url, namespace=namespace, max_attempts=max_attempts)

    kit = BusKit("rabbitmq", make_rabbit, url=url, namespace=namespace)
    try:
        yield kit
    finally:
        delete_rabbit_namespace(url, namespace, tuple(kit.groups | {"warehouse"}))


async def fetch_until(consumer: Consumer, count: int, within: float = 20.0) -> list[Delivery]:
    """Fetch until ``count`` deliveries arrived (or the time is up); returns what arrived."""
    got: list[Delivery] = []
    deadline = time.monotonic() + within
    while len(got) < count and time.monotonic() < deadline:
        got += await consumer.fetch(count - len(got), min(1.0, max(0.05, deadline - time.monotonic())))
    return got


async def eventually(check: Callable[[], Awaitable[bool]], within: float, interval: float = 0.1) -> bool:
    """Poll ``check`` until it is true or ``within`` seconds have passed; returns its last answer."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)
    return True
