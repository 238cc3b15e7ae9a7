"""The runtime: the storage and transport chosen by settings, wired together once per process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from siyu.bus.base import Bus
from siyu.bus.factory import make_bus
from siyu.collect.keys import KeyCache
from siyu.collect.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from siyu.collect.service import Collector
from siyu.config import Settings
from siyu.db import Database
from siyu.migrate import upgrade
from siyu.warehouse.base import Warehouse
from siyu.warehouse.factory import make_warehouse
from siyu.worker.warehouse import GROUP, PATTERNS, WarehouseWorker

log = logging.getLogger("siyu.runtime")


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
        self.collector = Collector(settings, self.bus, self.keys.resolve, self.limiter)
        self.worker: WarehouseWorker | None = (
            WarehouseWorker(settings, self.bus, self.warehouse)
            if self.warehouse is not None and warehouse is None
            else None
        )
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
        if run_worker and self.worker is not None:
            if self.embedded:
                from siyu.bus.sqlite import SqliteBus, release_leases

                assert isinstance(self.bus, SqliteBus)
                release_leases(self.bus, GROUP)
            self._tasks.append(asyncio.create_task(self.worker.run(self._stop), name="siyu-worker"))

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
        if self.warehouse is not None:
            with contextlib.suppress(Exception):
                self.warehouse.close()
        self.db.dispose()


def default_settings(data_dir: Path | None = None) -> Settings:
    if data_dir is None:
        return Settings()
    return Settings(data_dir=data_dir)
