"""The warehouse worker: bus group ``warehouse`` -> event store.

At-least-once in, exactly-once stored: a batch is written in one idempotent store write (see the
warehouse implementations), and only then acknowledged on the bus. A worker killed at any instant
leaves its batch unacknowledged; it is delivered again and the store drops what it already has.
A batch the store refuses is split message by message, so one bad message cannot hold up the rest; a
message that keeps failing is dead-lettered by the bus after ``SIYU_BUS_MAX_ATTEMPTS`` deliveries. While
the store itself is down (its ping fails too) the worker holds its batch and waits, so an outage of the
store does not spend delivery attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import timedelta

from siyu.bus.base import Bus, Consumer, Delivery
from siyu.collect.service import TOPIC
from siyu.config import Settings
from siyu.identity.extract import event_anchors
from siyu.kit.clock import utcnow
from siyu.metrics import EVENTS_DEDUPLICATED, EVENTS_STORED, WORKER_BATCHES
from siyu.warehouse.base import Staged, Warehouse, WriteResult
from siyu.warehouse.record import decode_columns
from siyu.worker.batching import fetch_batch

log = logging.getLogger("siyu.worker")

GROUP = "warehouse"
PATTERNS = (TOPIC,)
PRUNE_EVERY_S = 3600.0


class WarehouseWorker:
    def __init__(self, settings: Settings, bus: Bus, warehouse: Warehouse) -> None:
        self.settings = settings
        self.bus = bus
        self.warehouse = warehouse
        self.stored = 0
        self.duplicates = 0
        self._last_prune = 0.0
        self._stopping = asyncio.Event()

    async def declare(self) -> None:
        await self.bus.declare_group(GROUP, PATTERNS)

    def _stage(self, deliveries: Sequence[Delivery]) -> Staged:
        """Decode and prepare a batch (CPU only; may run while the previous batch commits), with the anchors of
        the events that the ``events`` view maps to persons through another identifier than their user id or
        anonymous id."""
        merged = decode_columns(deliveries[0].message.body)
        for d in deliveries[1:]:
            for column, more in zip(merged, decode_columns(d.message.body), strict=True):
                column.extend(more)
        return self.warehouse.stage(merged, event_anchors)

    def _write(self, deliveries: Sequence[Delivery], staged: Staged | None = None) -> WriteResult:
        return self.warehouse.commit(staged if staged is not None else self._stage(deliveries))

    async def _store_down(self) -> bool:
        try:
            await asyncio.to_thread(self.warehouse.ping)
        except Exception:
            return True
        return False

    async def _wait_for_store(self) -> bool:
        """Wait until the store answers again; False if the worker is told to stop first."""
        delay = 0.2
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if not self._stopping.is_set() and not await self._store_down():
                return True
            delay = min(delay * 2, 2.0)
        return False

    async def _handle(self, consumer: Consumer, deliveries: list[Delivery], staged: Staged | None = None) -> None:
        try:
            result = await asyncio.to_thread(self._write, deliveries, staged)
        except Exception:
            if await self._store_down():
                # The store is down, not the batch: hold the batch (unacknowledged) until it is back.
                # Handing it back to the bus would spend its delivery attempts (RabbitMQ redelivers at
                # once) and dead-letter good events after a short outage.
                log.warning("event store unavailable; holding the batch until it answers",
                            extra={"messages": len(deliveries)})
                WORKER_BATCHES.labels(outcome="store_down").inc()
                if await self._wait_for_store():
                    await self._handle(consumer, deliveries)
                return  # stopping: the unacknowledged batch is delivered again
            if len(deliveries) == 1:
                log.exception("event batch failed; will retry",
                              extra={"message_id": deliveries[0].message.id})
                WORKER_BATCHES.labels(outcome="failed").inc()
                await consumer.retry(deliveries)
                return
            for d in deliveries:  # isolate the bad message
                await self._handle(consumer, [d])
            return
        await consumer.ack(deliveries)
        self.stored += result.inserted
        self.duplicates += result.duplicates
        EVENTS_STORED.inc(result.inserted)
        EVENTS_DEDUPLICATED.inc(result.duplicates)
        WORKER_BATCHES.labels(outcome="ok").inc()

    async def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = now
        cutoff = utcnow() - timedelta(hours=self.settings.dedup_window_hours)
        try:
            n = await asyncio.to_thread(self.warehouse.prune_dedup, cutoff)
            if n:
                log.info("pruned deduplication keys", extra={"count": n})
        except Exception:
            log.exception("pruning deduplication keys failed")

    async def run_once(self, consumer: Consumer, wait_s: float | None = None) -> int:
        """Process one batch; returns how many bus messages it held."""
        wait = self.settings.worker_batch_wait_ms / 1000 if wait_s is None else wait_s
        max_messages = max(1, self.settings.worker_batch_events // 100)
        deliveries = await consumer.fetch(max_messages, wait)
        if deliveries:
            await self._handle(consumer, deliveries)
        return len(deliveries)

    async def run(self, stop: asyncio.Event, consumers: int = 1) -> None:
        self._stopping = stop
        await self.declare()
        await asyncio.gather(*(self._loop(stop) for _ in range(consumers)))

    async def _loop(self, stop: asyncio.Event) -> None:
        """Fetch and stage the next batch while the previous one commits (a pipeline of two: the store
        commit runs in a thread mostly outside the GIL, so decoding and building the next arrow table
        overlap it). Acknowledgements still follow each batch's own commit."""
        consumer = self.bus.consumer(GROUP, prefetch=max(256, self.settings.worker_batch_events // 50))
        wait = self.settings.worker_batch_wait_ms / 1000
        max_messages = max(1, self.settings.worker_batch_events // 100)
        inflight: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                try:
                    deliveries = await fetch_batch(consumer, max_messages, wait)
                    staged = None
                    if deliveries:
                        try:
                            staged = await asyncio.to_thread(self._stage, deliveries)
                        except Exception:
                            staged = None  # _handle stages again and isolates the bad message
                    if inflight is not None:
                        await inflight
                        inflight = None
                    if deliveries:
                        inflight = asyncio.create_task(self._handle(consumer, deliveries, staged))
                    else:
                        await self._maybe_prune()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("worker loop error; continuing")
                    await asyncio.sleep(1.0)
            if inflight is not None:
                await inflight
        finally:
            if inflight is not None and not inflight.done():
                inflight.cancel()
            await consumer.close()

    async def drain(self, idle_s: float = 0.5, timeout_s: float = 300.0) -> int:
        """Process until the group is empty (tests and the demo). Returns bus messages processed."""
        consumer = self.bus.consumer(GROUP)
        total = 0
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                n = await self.run_once(consumer, wait_s=idle_s)
                total += n
                if n == 0:
                    break
        finally:
            await consumer.close()
        return total
