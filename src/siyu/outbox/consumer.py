"""Domain consumers: bus group -> a handler that changes the operational database, exactly once.

A :class:`Handler` names its group and topic patterns and handles one domain event inside a transaction.
The runner handles a fetched batch in one transaction, recording every message id in the inbox first
(``service.first_deliveries``, one statement), and acknowledges after the commit; a message seen before is
skipped. If the batch fails, its messages are handled one per transaction so one bad message cannot hold up the rest;
one that keeps failing is retried and eventually dead-lettered by the bus.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec
from sqlalchemy.orm import Session

from siyu.bus.base import Bus, Consumer, Delivery, Message
from siyu.db import Database
from siyu.outbox.relay import EVENT_ID
from siyu.outbox.service import first_deliveries
from siyu.worker.batching import fetch_batch

log = logging.getLogger("siyu.outbox.consumer")
_decode = msgspec.json.Decoder(dict[str, Any])


class Handler(Protocol):
    group: str
    patterns: tuple[str, ...]

    def handle(self, session: Session, message: Message) -> None: ...

    # A handler may also define ``handle_many(session, messages)``, given a batch's new messages in order
    # in place of one ``handle`` call each (to read what every message needs once), and ``inbox = False``
    # when its effects are keyed per source event already (then no inbox row is written per message).


def domain_event(message: Message) -> dict[str, Any]:
    """The JSON domain event a message carries (see ``outbox.service``)."""
    return _decode.decode(message.body)


class ConsumerRunner:
    def __init__(self, db: Database, bus: Bus, handler: Handler, batch: int = 500, wait_s: float = 0.2) -> None:
        self.db = db
        self.bus = bus
        self.handler = handler
        self.batch = batch
        self.wait_s = wait_s
        self.handled = 0

    async def declare(self) -> None:
        await self.bus.declare_group(self.handler.group, self.handler.patterns)

    def _apply(self, deliveries: Sequence[Delivery]) -> int:
        # A domain event is handled once by its own id, even if it reaches us in another bus message; other
        # messages (tracked event batches) by their message id.
        keyed = {d.message.headers.get(EVENT_ID) or d.message.id: d.message for d in deliveries}
        with self.db.session() as session:
            if getattr(self.handler, "inbox", True):
                fresh = first_deliveries(session, self.handler.group, list(keyed))
                todo = [m for key, m in keyed.items() if key in fresh]
            else:
                todo = list(keyed.values())
            many = getattr(self.handler, "handle_many", None)
            if many is not None:
                many(session, todo)
            else:
                for m in todo:
                    self.handler.handle(session, m)
        return len(todo)

    async def _process(self, consumer: Consumer, deliveries: list[Delivery]) -> None:
        try:
            self.handled += await asyncio.to_thread(self._apply, deliveries)
        except Exception:
            if len(deliveries) == 1:
                log.exception("domain event failed; will retry",
                              extra={"group": self.handler.group, "message_id": deliveries[0].message.id})
                await consumer.retry(deliveries)
                await asyncio.sleep(0.2)
                return
            for d in deliveries:
                await self._process(consumer, [d])
            return
        await consumer.ack(deliveries)

    async def run(self, stop: asyncio.Event) -> None:
        await self.declare()
        consumer = self.bus.consumer(self.handler.group, prefetch=self.batch * 2)
        try:
            while not stop.is_set():
                try:
                    deliveries = await fetch_batch(consumer, self.batch, self.wait_s)
                    if deliveries:
                        await self._process(consumer, deliveries)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("consumer loop error; continuing", extra={"group": self.handler.group})
                    await asyncio.sleep(1.0)
        finally:
            await consumer.close()

    async def drain(self, idle_s: float = 0.1, timeout_s: float = 120.0) -> int:
        consumer = self.bus.consumer(self.handler.group)
        total = 0
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                deliveries = await consumer.fetch(self.batch, idle_s)
                if not deliveries:
                    break
                await self._process(consumer, deliveries)
                total += len(deliveries)
        finally:
            await consumer.close()
        return total
