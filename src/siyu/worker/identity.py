"""The identity worker: bus group ``identity`` -> the identity graph, and the graph's links -> the event store.

At-least-once in, exactly-once effect: resolution is idempotent (an identifier already attached, a merge
already made or a trait already seen changes nothing; channel spans take min/max), so a batch redelivered
after a crash re-resolves to the same graph. A batch is resolved in one database transaction and
acknowledged after its commit.

After each commit (and when idle, to pick up operator merges, unmerges and logins made by API processes)
the worker copies every identifier link whose seq is above the event store's high-water mark into the
store's ``identity_links``; the ``events`` view maps events to persons through them (through the user id or
anonymous id an event carries, or, when neither is an identifier, through the identifier it is anchored to,
which may be of any kind). The copy is
idempotent and ordered by the identity clock, so a crash between commit and copy only delays it. The next
batch is fetched from the bus while the current one is resolved, and the links of a committed batch are
copied (in a thread of their own, one copy at a time) while the next batch is resolved: the event store's
write and SQLite's reads release the GIL, so the copy costs the resolution little.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import and_, or_, select, text

from siyu.bus.base import Bus, Consumer, Delivery
from siyu.collect.service import TOPIC
from siyu.config import Settings
from siyu.db import Database
from siyu.identity.extract import Observation, observe_message
from siyu.identity.models import Identifier
from siyu.identity.resolver import Cache, Outcome, committed, resolve
from siyu.metrics import IDENTITY_EVENTS, IDENTITY_LINKS, IDENTITY_MERGES
from siyu.warehouse.base import Link, Warehouse
from siyu.worker.batching import fetch_batch

log = logging.getLogger("siyu.worker.identity")

GROUP = "identity"
PATTERNS = (TOPIC,)
SYNC_PAGE = 50_000
SQLITE_CACHE_KB = 65_536


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Run a batch without the cyclic garbage collector. A batch holds several objects per event (observations,
    keys, rows to write) until its commit, so collections in the middle of it are full ones over all of them
    (and over the cache), each finding nothing: on a 50,000-event batch they cost more than resolution itself.
    Nothing a batch makes is kept in a reference cycle, so the collector has nothing to miss meanwhile; it
    runs as usual between batches, and in the process's other threads it is only delayed."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class IdentityWorker:
    def __init__(self, settings: Settings, bus: Bus, db: Database, warehouse: Warehouse) -> None:
        self.settings = settings
        self.bus = bus
        self.db = db
        self.warehouse = warehouse
        self.cache = Cache()
        self.resolved = 0
        self._cursor: tuple[int, str] | None = None
        self._last_sync = 0.0
        self._sync: asyncio.Task[None] | None = None  # the link copy in progress (see _schedule_sync)
        self._sync_more = False

    async def declare(self) -> None:
        await self.bus.declare_group(GROUP, PATTERNS)

    @staticmethod
    def observations(deliveries: Sequence[Delivery]) -> list[Observation]:
        out: list[Observation] = []
        for d in deliveries:
            out.extend(observe_message(d.message.body))
        return out

    def resolve(self, observations: list[Observation]) -> Outcome:
        with self.cache.lock:
            with self.db.session() as session:
                if session.get_bind().dialect.name == "sqlite":
                    # A batch reads and rewrites pages all over the graph's tables: a page cache of 64 MB
                    # (per connection; SQLite's default is 2 MB) keeps them in the process between batches.
                    session.execute(text(f"PRAGMA cache_size = -{SQLITE_CACHE_KB}"))
                outcome = resolve(session, self.cache, observations)
            committed(self.cache, outcome)
        return outcome

    def sync_links(self) -> int:
        """Copy links changed since the last copy; returns how many. Pages are keyed by (seq, id), since one
        transaction may stamp any number of identifiers with one seq; after a restart the copy resumes at
        the store's highest seq, rewriting that seq's links (the write is idempotent)."""
        if self._cursor is None:
            self._cursor = (self.warehouse.links_seq(), "")
        total = 0
        while True:
            seq, ident = self._cursor
            with self.db.session() as session:
                # A range on the seq index: ``seq >= :seq`` spelled out (the OR alone is not a range).
                rows = session.execute(
                    select(Identifier.kind, Identifier.value, Identifier.person_id, Identifier.seq, Identifier.id)
                    .where(Identifier.seq >= seq,
                           or_(Identifier.seq > seq, and_(Identifier.seq == seq, Identifier.id > ident)))
                    .order_by(Identifier.seq, Identifier.id).limit(SYNC_PAGE)
                ).all()
            if not rows:
                return total
            links: list[Link] = [(r[0], r[1], r[2], int(r[3])) for r in rows]
            self.warehouse.write_links(links)
            self._cursor = (int(rows[-1][3]), rows[-1][4])
            total += len(links)
            IDENTITY_LINKS.inc(len(links))
            if len(rows) < SYNC_PAGE:
                return total

    def _process(self, deliveries: Sequence[Delivery]) -> Outcome:
        with _collector_paused():
            return self.resolve(self.observations(deliveries))

    async def handle(self, consumer: Consumer, deliveries: list[Delivery]) -> None:
        try:
            outcome = await asyncio.to_thread(self._process, deliveries)
        except Exception:
            log.exception("identity batch failed; will retry", extra={"messages": len(deliveries)})
            await consumer.retry(deliveries)
            await asyncio.sleep(0.5)
            return
        await consumer.ack(deliveries)
        self.resolved += outcome.events
        IDENTITY_EVENTS.inc(outcome.events)
        IDENTITY_MERGES.inc(outcome.merges)
        self._schedule_sync()

    def _schedule_sync(self) -> None:
        """Copy the links in the background: one copy at a time (the cursor is its own), and one more after it
        when asked for during it (a copy takes everything committed before it starts)."""
        self._last_sync = time.monotonic()
        if self._sync is not None and not self._sync.done():
            self._sync_more = True
            return
        self._sync = asyncio.create_task(self._sync_loop())

    async def _sync_loop(self) -> None:
        while True:
            self._sync_more = False
            try:
                await asyncio.to_thread(self.sync_links)
            except Exception:
                self._cursor = None
                log.exception("identity link sync failed; will retry")
            if not self._sync_more:
                return

    async def _synced(self) -> None:
        """Wait for the link copy in progress, if any."""
        while self._sync is not None and not self._sync.done():
            await asyncio.shield(self._sync)

    async def _idle_sync(self) -> None:
        if time.monotonic() - self._last_sync >= 1.0:
            self._schedule_sync()

    async def run(self, stop: asyncio.Event) -> None:
        await self.declare()
        consumer = self.bus.consumer(GROUP, prefetch=max(256, self.settings.worker_batch_events // 50))
        wait = self.settings.worker_batch_wait_ms / 1000
        max_messages = max(1, self.settings.worker_batch_events // 100)
        # The next batch is fetched while the current one is resolved (in its thread), so the bus's reads and
        # the graph's writes overlap; batches are still resolved one at a time, in the order fetched.
        resolving: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                try:
                    deliveries = await fetch_batch(consumer, max_messages, wait)
                    if resolving is not None:
                        previous, resolving = resolving, None
                        await previous
                    if deliveries:
                        resolving = asyncio.create_task(self.handle(consumer, deliveries))
                    else:
                        await self._idle_sync()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("identity worker loop error; continuing")
                    await asyncio.sleep(1.0)
        finally:
            if resolving is not None:  # let the batch in hand finish (and be acknowledged) before closing
                with contextlib.suppress(Exception):
                    await asyncio.shield(resolving)
            with contextlib.suppress(Exception):
                await self._synced()
            await consumer.close()

    async def drain(self, idle_s: float = 0.5, timeout_s: float = 300.0) -> int:
        """Process until the group is empty, then synchronise links (tests and the demo)."""
        consumer = self.bus.consumer(GROUP)
        total = 0
        deadline = time.monotonic() + timeout_s
        max_messages = max(1, self.settings.worker_batch_events // 100)
        try:
            while time.monotonic() < deadline:
                deliveries = await consumer.fetch(max_messages, idle_s)
                if not deliveries:
                    break
                await self.handle(consumer, deliveries)
                total += len(deliveries)
        finally:
            await consumer.close()
        await self._synced()
        await asyncio.to_thread(self.sync_links)
        return total
