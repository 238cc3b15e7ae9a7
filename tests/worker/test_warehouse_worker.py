"""The warehouse worker: at-least-once from the bus, exactly once in the event store."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest

from siyu.bus.base import Bus, Consumer, Delivery, Message
from siyu.bus.rabbitmq import RabbitBus
from siyu.bus.sqlite import SqliteBus
from siyu.collect.service import TOPIC
from siyu.config import Settings
from siyu.warehouse.base import Link, QueryResult, Staged, Warehouse, WarehouseUnavailable, WriteResult
from siyu.warehouse.record import encode_records
from siyu.worker.warehouse import GROUP, WarehouseWorker
from tests.bus.conftest import BusKit, eventually, fetch_until, run
from tests.warehouse.conftest import count
from tests.warehouse.rows import record


def settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path, worker_batch_wait_ms=50, **kw)  # type: ignore[arg-type]


def event_message(n: int, start: int, size: int, *, source: str = "src-a") -> Message:
    """One bus message as the tracking API publishes it: the accepted events of one request."""
    body = encode_records([record(i, source=source) for i in range(start, start + size)])
    return Message(id=f"bus-{n}", topic=TOPIC, body=body, headers={"source_id": source})


class AckLost(Consumer):
    """A consumer whose process dies after the store write and before the acknowledgement."""

    def __init__(self, inner: Consumer) -> None:
        self.inner = inner
        self.fetched = 0

    async def fetch(self, max_messages: int, wait_s: float) -> list[Delivery]:
        got = await self.inner.fetch(max_messages, wait_s)
        self.fetched += len(got)
        return got

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        pass

    async def retry(self, deliveries: Sequence[Delivery]) -> None:
        await self.inner.retry(deliveries)

    async def close(self) -> None:
        await self.inner.close()


def test_a_redelivered_batch_is_stored_once(kit: BusKit, warehouse: Warehouse, tmp_path: Path) -> None:
    async def go() -> None:
        bus = await kit.started()
        worker = WarehouseWorker(settings(tmp_path), bus, warehouse)
        await worker.declare()
        await bus.publish([event_message(n, n * 100, 100) for n in range(5)])
        doomed = AckLost(bus.consumer(GROUP))
        while doomed.fetched < 5:
            assert await worker.run_once(doomed, wait_s=5.0) > 0
        assert count(warehouse) == 500  # written ...
        await doomed.close()  # ... but never acknowledged: the bus delivers the batch again
        assert await worker.drain(idle_s=2.0) == 5
        assert count(warehouse) == 500
        dupes = warehouse.query(
            "SELECT count(*) FROM (SELECT source_id, message_id FROM events GROUP BY source_id, message_id "
            "HAVING count(*) > 1) d", 10, 30).rows[0][0]
        assert dupes == 0
        assert (await bus.depth())[GROUP] == 0
        await bus.close()

    run(go())


async def _dead(bus: Bus) -> int:
    if isinstance(bus, SqliteBus):
        return await asyncio.to_thread(bus.dead_count)
    assert isinstance(bus, RabbitBus) and bus._conn is not None
    channel = await bus._conn.channel()
    try:
        return int((await channel.declare_queue(bus.dead_name, passive=True)).declaration_result.message_count or 0)
    finally:
        await channel.close()


def test_a_poison_message_does_not_hold_up_its_batch_and_ends_dead_lettered(
    kit: BusKit, warehouse: Warehouse, tmp_path: Path
) -> None:
    async def go() -> None:
        bus = await kit.started(max_attempts=3)
        worker = WarehouseWorker(settings(tmp_path, bus_max_attempts=3), bus, warehouse)
        await worker.declare()
        poison = Message(id="poison", topic=TOPIC, body=b"\xc1 this is not msgpack", headers={})
        await bus.publish([event_message(1, 0, 100), poison, event_message(2, 100, 100)])
        consumer = bus.consumer(GROUP)
        batch = await fetch_until(consumer, 3)
        assert sorted(d.message.id for d in batch) == ["bus-1", "bus-2", "poison"]
        await worker._handle(consumer, batch)  # one batch holding all three
        assert count(warehouse) == 200  # the good ones are stored at once
        deadline = time.monotonic() + 60
        while await _dead(bus) == 0 and time.monotonic() < deadline:
            await worker.run_once(consumer, wait_s=0.5)
        assert await _dead(bus) == 1
        assert await consumer.fetch(10, 1.0) == []
        assert (await bus.depth())[GROUP] == 0
        assert count(warehouse) == 200
        await consumer.close()
        await bus.close()

    run(go())


class CountingBus:
    """Wraps a bus to record which consumer received how many messages."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.received: Counter[int] = Counter()

    def consumer(self, group: str, prefetch: int = 256) -> Consumer:
        inner = self.bus.consumer(group, prefetch)
        index = len(self.received)
        self.received[index] += 0
        received = self.received

        class Counting(AckLost):
            async def fetch(self, max_messages: int, wait_s: float) -> list[Delivery]:
                got = await self.inner.fetch(max_messages, wait_s)
                received[index] += len(got)
                return got

            async def ack(self, deliveries: Sequence[Delivery]) -> None:
                await self.inner.ack(deliveries)

        return Counting(inner)

    def __getattr__(self, name: str) -> object:
        return getattr(self.bus, name)


@pytest.mark.server
def test_several_consumers_in_one_process_store_each_event_once(warehouse: Warehouse, tmp_path: Path) -> None:
    from tests.support import delete_rabbit_namespace, rabbit_namespace, service_url

    url = service_url("AMQP")
    namespace = rabbit_namespace()

    async def go() -> None:
        rabbit = RabbitBus(url, namespace=namespace)
        await rabbit.start()
        bus = CountingBus(rabbit)
        worker = WarehouseWorker(settings(tmp_path, worker_batch_events=1000), bus, warehouse)  # type: ignore[arg-type]
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop, consumers=3))
        async def subscribed() -> bool:  # all three consume before the messages arrive
            assert rabbit._conn is not None
            channel = await rabbit._conn.channel()
            try:
                q = await channel.declare_queue(rabbit.queue_name(GROUP), passive=True)
                return q.declaration_result.consumer_count == 3
            except Exception:  # not declared yet (the broker closes the channel)
                return False
            finally:
                with contextlib.suppress(Exception):
                    await channel.close()

        assert await eventually(subscribed, 30)
        messages = [event_message(n, n * 20, 20) for n in range(300)]
        # A client retry after a lost answer: the same events again, in new bus messages.
        messages += [Message(id=f"again-{m.id}", topic=m.topic, body=m.body, headers=m.headers)
                     for m in messages[::10]]
        for i in range(0, len(messages), 30):
            await rabbit.publish(messages[i:i + 30])
        async def all_taken() -> bool:
            return sum(bus.received.values()) >= len(messages) and not (await rabbit.depth()).get(GROUP)

        assert await eventually(all_taken, 90, 0.2)
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.wait_for(task, 30)
        assert sum(bus.received.values()) >= len(messages)
        assert sorted(bus.received) == [0, 1, 2]
        assert all(n > 0 for n in bus.received.values()), bus.received
        await rabbit.close()

    try:
        run(go(), timeout=180)
    finally:
        delete_rabbit_namespace(url, namespace)
    assert count(warehouse) == 6000
    distinct = warehouse.query("SELECT count(DISTINCT message_id) FROM events", 10, 30).rows[0][0]
    assert distinct == 6000


class Outage(Warehouse):
    """A store that is down (writes and pings fail) while ``down`` is set."""

    name = "outage"

    def __init__(self, inner: Warehouse) -> None:
        self.inner = inner
        self.down = True
        self.refused = 0

    def _check(self) -> None:
        if self.down:
            self.refused += 1
            raise WarehouseUnavailable(details={"reason": "connection refused"})

    def migrate(self) -> None:
        self.inner.migrate()

    def commit(self, staged: Staged) -> WriteResult:
        self._check()
        return self.inner.commit(staged)

    def query(self, sql: str, max_rows: int, timeout_s: float) -> QueryResult:
        return self.inner.query(sql, max_rows, timeout_s)

    def prune_dedup(self, older_than: datetime) -> int:
        return self.inner.prune_dedup(older_than)

    def write_links(self, links: Sequence[Link]) -> None:
        self._check()
        self.inner.write_links(links)

    def links_seq(self) -> int:
        self._check()
        return self.inner.links_seq()

    def ping(self) -> None:
        self._check()

    def close(self) -> None:
        self.inner.close()


def test_an_outage_of_the_store_loses_nothing_and_dead_letters_nothing(
    kit: BusKit, warehouse: Warehouse, tmp_path: Path
) -> None:
    """While the store is down the worker holds its batch; it does not spend the messages' delivery
    attempts (two here), which would dead-letter good events after a few seconds."""
    store = Outage(warehouse)

    async def go() -> None:
        bus = await kit.started(max_attempts=2)
        worker = WarehouseWorker(settings(tmp_path, bus_max_attempts=2), bus, store)
        await worker.declare()
        await bus.publish([event_message(n, n * 100, 100) for n in range(3)])
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(4.0)  # an outage longer than the bus's retry back-off for two attempts
        assert store.refused >= 2
        store.down = False
        async def stored() -> bool:
            return await asyncio.to_thread(count, warehouse) >= 300

        assert await eventually(stored, 30)
        stop.set()
        await asyncio.wait_for(task, 30)
        assert count(warehouse) == 300
        assert await _dead(bus) == 0
        assert (await bus.depth())[GROUP] == 0
        await bus.close()

    run(go())
