"""The order sweeper (in the worker process), with an injectable clock: unpaid orders past their
reservation are cancelled and their stock released; shipped orders nobody confirmed within
``auto_complete_days`` are completed. Each order is changed in its own transaction through the same
conditional transitions as the API, so a payment racing the sweeper either lands first (the order is paid)
or is refused and refunded."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from siyu.db import Database
from siyu.kit.clock import utcnow
from siyu.orders import fulfilment, service
from siyu.orders.errors import InvalidTransition
from siyu.orders.schemas import Status

log = logging.getLogger("siyu.orders.sweeper")


class OrderSweeper:
    def __init__(self, db: Database, interval_s: float, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.interval_s = interval_s
        self.clock = clock
        self.expired = 0
        self.completed = 0

    def sweep(self) -> tuple[int, int]:
        now = self.clock()
        with self.db.session() as session:
            due = service.expired_unpaid(session, now)
            to_complete = fulfilment.auto_complete_due(session, now)
        expired = completed = 0
        for order_id in due:
            try:
                with self.db.session() as session:
                    service.cancel(session, order_id, "payment_timeout", (Status.pending_payment,), now=now)
                expired += 1
            except InvalidTransition:
                pass  # paid or cancelled meanwhile
        for order_id in to_complete:
            try:
                with self.db.session() as session:
                    fulfilment.complete(session, order_id, (Status.shipped,), now)
                completed += 1
            except InvalidTransition:
                pass
        self.expired += expired
        self.completed += completed
        return expired, completed

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.sweep)
            except Exception:
                log.exception("order sweep failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)
