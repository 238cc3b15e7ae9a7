"""The group-buy sweeper (in the worker process), with an injectable clock: groups past their expiry that
did not fill fail, and every paid member is refunded (``seats.fail``); then orders still unpaid in groups
that succeeded or failed are cancelled (``seats.drop_unpaid``). Each group and each order in its own
transaction; the failure is a conditional transition, so two sweepers (or a sweep racing the last
payment's event) refund nobody twice and never fail a group that filled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from siyu.db import Database
from siyu.kit.clock import utcnow
from siyu.promotions.groupbuy import seats

log = logging.getLogger("siyu.promotions.group_buy.sweeper")


class GroupBuySweeper:
    def __init__(self, db: Database, interval_s: float, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.interval_s = interval_s
        self.clock = clock
        self.failed = 0

    def sweep(self) -> int:
        now = self.clock()
        with self.db.session() as session:
            due = seats.expired(session, now)
        failed = 0
        for group_id in due:
            with self.db.session() as session:
                failed += seats.fail(session, group_id, now)
        with self.db.session() as session:
            stale = seats.stale_pending(session)
        for member_id in stale:
            with self.db.session() as session:
                seats.drop_unpaid(session, member_id, now)
        self.failed += failed
        return failed

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.sweep)
            except Exception:
                log.exception("group-buy sweep failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)
