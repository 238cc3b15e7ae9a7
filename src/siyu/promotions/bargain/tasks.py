"""The bargain sweeper (in the worker process), with an injectable clock: open or reached bargains past
their expiry that no order holds become ``expired`` (one conditional UPDATE; reads already treat them as
expired, so this only tidies the status)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from siyu.db import Database
from siyu.kit.clock import utcnow
from siyu.promotions.bargain import cuts

log = logging.getLogger("siyu.promotions.bargain.sweeper")


class BargainSweeper:
    def __init__(self, db: Database, interval_s: float, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.interval_s = interval_s
        self.clock = clock

    def sweep(self) -> int:
        with self.db.session() as session:
            return cuts.expire_due(session, self.clock())

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.sweep)
            except Exception:
                log.exception("bargain sweep failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)
