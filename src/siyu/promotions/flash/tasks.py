"""The flash-sale sweeper (in the worker process), with an injectable clock: reservations not ordered
before they expired go back to the quota (``service.expire_due``), then the Redis reconciler repairs
what a crash left between Redis and the database (``redis_store``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from siyu.db import Database
from siyu.kit.clock import utcnow
from siyu.promotions.flash import service
from siyu.promotions.flash.store import Quotas

log = logging.getLogger("siyu.promotions.flash.sweeper")
BATCH = 500


class FlashSweeper:
    def __init__(self, db: Database, quotas: Quotas, interval_s: float = 5.0,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.quotas = quotas
        self.interval_s = interval_s
        self.clock = clock
        self.expired = 0
        self.reconciled = 0

    def sweep(self) -> tuple[int, int]:
        """One pass: (reservations expired, reservations the reconciler fixed)."""
        now = self.clock()
        expired = 0
        while True:
            with self.db.session() as session:
                n = service.expire_due(session, self.quotas, now, BATCH)
            expired += n
            if n < BATCH:
                break
        fixed = self.quotas.reconcile(now)
        self.expired += expired
        self.reconciled += fixed
        return expired, fixed

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.sweep)
            except Exception:
                log.exception("flash sweep failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)
