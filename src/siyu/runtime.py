"""The runtime: the storage and transport chosen by settings, wired together once per process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from siyu.auth.cache import PrincipalCache
from siyu.bus.base import Bus
from siyu.bus.factory import make_bus
from siyu.collect.keys import KeyCache
from siyu.collect.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from siyu.collect.service import Collector
from siyu.config import Settings
from siyu.db import Database
from siyu.migrate import upgrade
from siyu.outbox.domain import DomainWorkers
from siyu.promotions.flash.attempts import FlashAttempts
from siyu.promotions.flash.store import make_quotas
from siyu.warehouse.base import Warehouse
from siyu.warehouse.factory import make_warehouse
from siyu.worker import identity as identity_worker
from siyu.worker.identity import IdentityWorker
from siyu.worker.warehouse import GROUP, PATTERNS, WarehouseWorker

log = logging.getLogger("siyu.runtime")
DRAIN_IDLE_S = 0.1  # a drain ends when a fetch waits this long for nothing (messages are durable on publish)


class Runtime:
    def __init__(
        self, settings: Settings, *, with_warehouse: bool = True, warehouse: Warehouse | None = None
    ) -> None:
        """``warehouse`` overrides the configured store (e.g. a :class:`RemoteWarehouse` reaching the
        worker process); this process then runs no worker of its own."""
        self.settings = settings
        settings.ensure_data_dir()
        self.db = Database(settings.resolved_database_url())
        self.bus: Bus = make_bus(settings)
        self.warehouse: Warehouse | None = warehouse or (make_warehouse(settings) if with_warehouse else None)
        self.limiter: RateLimiter = (
            RedisRateLimiter(settings.redis_url) if settings.redis_url else MemoryRateLimiter()
        )
        self.keys = KeyCache(self.db)
        self.principals = PrincipalCache(self.db)
        self.collector = Collector(settings, self.bus, self.keys.resolve, self.limiter)
        self.worker: WarehouseWorker | None = (
            WarehouseWorker(settings, self.bus, self.warehouse)
            if self.warehouse is not None and warehouse is None
            else None
        )
        self.identity: IdentityWorker | None = (
            IdentityWorker(settings, self.bus, self.db, self.warehouse)
            if self.worker is not None and self.warehouse is not None
            else None
        )
        self.domain = DomainWorkers(settings, self.db, self.bus)
        self.flash = FlashAttempts(self.db, make_quotas(settings, self.db))  # flash-sale attempts (hot path)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def embedded(self) -> bool:
        return self.bus.name == "sqlite"

    async def start(self, *, run_worker: bool, migrate: bool = True) -> None:
        if migrate:
            await asyncio.to_thread(upgrade, self.settings.resolved_database_url())
        if self.warehouse is not None:
            await asyncio.to_thread(self.warehouse.migrate)
        await self.bus.start()
        # Declared here whether or not this process has the event store: a group receives only what is
        # published after its declaration, so an API process must not accept events before it exists.
        await self.bus.declare_group(GROUP, PATTERNS)
        await self.bus.declare_group(identity_worker.GROUP, identity_worker.PATTERNS)
        await self.domain.declare()
        if run_worker and self.worker is not None:
            if self.embedded:
                self.release_leases()
            self._tasks.append(asyncio.create_task(self.run_workers(self._stop), name="siyu-worker"))

    def release_leases(self) -> None:
        """Embedded bus: take back at once what a killed predecessor had leased."""
        from siyu.bus.sqlite import SqliteBus, release_leases

        assert isinstance(self.bus, SqliteBus)
        for group in (GROUP, identity_worker.GROUP, *(c.handler.group for c in self.domain.consumers)):
            release_leases(self.bus, group)

    async def run_workers(self, stop: asyncio.Event, consumers: int = 1) -> None:
        """The event store writer, identity resolution and the domain workers, until ``stop`` is set."""
        assert self.worker is not None and self.identity is not None
        await asyncio.gather(self.worker.run(stop, consumers=consumers), self.identity.run(stop),
                             self.domain.run(stop))

    async def drain(self) -> None:
        """Run the workers until the bus is empty and the links are copied (tests, the demo)."""
        assert self.worker is not None and self.identity is not None
        for _ in range(10):
            n = await self.domain.drain()
            n += await self.worker.drain(idle_s=DRAIN_IDLE_S)
            n += await self.identity.drain(idle_s=DRAIN_IDLE_S)
            if n == 0:
                break

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            try:
                await asyncio.wait_for(task, timeout=30)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        self._tasks.clear()
        await self.bus.close()
        if isinstance(self.limiter, RedisRateLimiter):
            await self.limiter.close()
        await self.flash.quotas.aclose()
        self.domain.flash_quotas.close()
        if self.warehouse is not None:
            with contextlib.suppress(Exception):
                self.warehouse.close()
        self.db.dispose()


def default_settings(data_dir: Path | None = None) -> Settings:
    if data_dir is None:
        return Settings()
    return Settings(data_dir=data_dir)
