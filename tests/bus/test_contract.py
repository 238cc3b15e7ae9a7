"""The bus contract (siyu.bus.base), run against the embedded SQLite bus and against RabbitMQ."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from siyu.bus.base import BusUnavailable, Message, topic_matches
from siyu.bus.rabbitmq import RabbitBus
from siyu.bus.sqlite import SqliteBus
from tests.bus.conftest import BusKit, eventually, fetch_until, run
from tests.support import free_port, rabbit_namespace


def msgs(n: int, topic: str = "events.track", prefix: str = "m") -> list[Message]:
    return [Message(id=f"{prefix}{i}", topic=topic, body=f"body-{prefix}{i}".encode(),
                    headers={"source_id": "src-1", "n": str(i)}) for i in range(n)]


@pytest.mark.parametrize(
    "pattern,topic,expected",
    [
        ("events.track", "events.track", True),
        ("events.track", "events.page", False),
        ("events.*", "events.track", True),
        ("events.*", "events", False),
        ("events.*", "events.track.extra", False),
        ("*.paid", "orders.paid", True),
        ("*.paid", "orders.refunded", False),
        ("orders.#", "orders", True),
        ("orders.#", "orders.paid.online", True),
        ("orders.#", "ordersx.paid", False),
        ("#", "anything.at.all", True),
        ("#.paid", "orders.paid", True),
        ("#.paid", "paid", True),
        ("#.paid", "orders.paid.late", False),
        ("a.#.z", "a.z", True),
        ("a.#.z", "a.b.c.z", True),
        ("a.*.z", "a.z", False),
    ],
)
def test_topic_matches_follows_rabbitmq_rules(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected


def test_publish_fetch_ack(kit: BusKit) -> None:
    async def go() -> None:
        bus = await kit.started()
        await kit.declare(bus, "g", ["events.*"])
        sent = msgs(10)
        await bus.publish(sent)
        consumer = bus.consumer("g")
        got = await fetch_until(consumer, 10)
        assert sorted((d.message.id, d.message.topic, d.message.body) for d in got) == sorted(
            (m.id, m.topic, m.body) for m in sent
        )
        assert all(d.attempts == 1 for d in got)
        assert {d.message.id: d.message.headers for d in got} == {m.id: m.headers for m in sent}
        await consumer.ack(got)
        assert await consumer.fetch(10, 0.5) == []
        await consumer.close()
        # Acknowledged means gone for good, also for a new consumer on a new connection.
        other = await kit.started()
        again = other.consumer("g")
        assert await again.fetch(10, 1.0) == []
        await again.close()
        await other.close()
        await bus.close()

    run(go())


def test_fan_out_and_topic_patterns(kit: BusKit) -> None:
    async def go() -> None:
        bus = await kit.started()
        await kit.declare(bus, "all_events", ["events.*"])
        await kit.declare(bus, "tracks_and_orders", ["events.track", "orders.#"])
        await bus.publish(
            [
                Message(id="t", topic="events.track", body=b"t"),
                Message(id="p", topic="events.page", body=b"p"),
                Message(id="o", topic="orders.paid.online", body=b"o"),
                Message(id="deep", topic="events.track.extra", body=b"x"),
                Message(id="none", topic="other.thing", body=b"n"),
            ]
        )
        results = {}
        for group, n in (("all_events", 2), ("tracks_and_orders", 2)):
            c = bus.consumer(group)
            got = await fetch_until(c, n)
            got += await c.fetch(10, 0.5)  # nothing more may come
            results[group] = sorted(d.message.id for d in got)
            await c.ack(got)
            await c.close()
        assert results == {"all_events": ["p", "t"], "tracks_and_orders": ["o", "t"]}
        await bus.close()

    run(go())


def test_unacked_messages_go_to_the_next_consumer_when_one_closes(kit: BusKit) -> None:
    async def go() -> None:
        bus = await kit.started()
        await kit.declare(bus, "g", ["events.*"])
        await bus.publish(msgs(5))
        first = bus.consumer("g")
        held = await fetch_until(first, 5)
        assert len(held) == 5
        await first.close()  # without acknowledging
        # Another process (another connection) takes them over at once, as a second delivery.
        other = await kit.started()
        second = other.consumer("g")
        again = await fetch_until(second, 5, within=10)
        assert sorted(d.message.id for d in again) == sorted(d.message.id for d in held)
        assert all(d.attempts == 2 for d in again)
        await second.ack(again)
        assert await second.fetch(10, 0.5) == []
        await second.close()
        await other.close()
        await bus.close()

    run(go())


def test_sqlite_lease_runs_out_when_a_consumer_dies_holding_messages(tmp_path: Path) -> None:
    """A consumer that is killed never closes: its messages come back when its lease runs out."""

    async def go() -> None:
        bus = SqliteBus(tmp_path / "bus.sqlite3", lease_s=1.0)
        await bus.start()
        await bus.declare_group("g", ["events.*"])
        await bus.publish(msgs(3))
        dead = bus.consumer("g")
        held = await dead.fetch(10, 1.0)
        assert len(held) == 3
        alive = bus.consumer("g")
        assert await alive.fetch(10, 0.2) == []  # still leased
        started = time.monotonic()
        again = await fetch_until(alive, 3, within=10)
        assert sorted(d.message.id for d in again) == ["m0", "m1", "m2"]
        assert all(d.attempts == 2 for d in again)
        assert time.monotonic() - started >= 0.5
        await alive.ack(again)
        await alive.close()
        dead._leased.clear()  # it "died": nothing to give back
        await dead.close()
        await bus.close()

    run(go())


def test_retry_delivers_again(kit: BusKit) -> None:
    async def go() -> None:
        bus = await kit.started()
        await kit.declare(bus, "g", ["events.*"])
        await bus.publish(msgs(2))
        c = bus.consumer("g")
        got = await fetch_until(c, 2)
        await c.retry(got[:1])
        await c.ack(got[1:])
        again = await fetch_until(c, 1, within=15)
        assert [d.message.id for d in again] == [got[0].message.id]
        assert again[0].attempts == 2
        assert again[0].message.body == got[0].message.body
        await c.ack(again)
        assert await c.fetch(10, 0.5) == []
        await c.close()
        await bus.close()

    run(go())


def test_dead_letter_after_max_attempts(kit: BusKit) -> None:
    async def go() -> None:
        bus = await kit.started(max_attempts=3)
        await kit.declare(bus, "g", ["events.*"])
        await bus.publish([Message(id="poison", topic="events.track", body=b"bad"), *msgs(1, prefix="ok")])
        c = bus.consumer("g")
        attempts: list[int] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and await kit.dead_count(bus) == 0:
            for d in await c.fetch(10, 0.5):
                if d.message.id == "poison":
                    attempts.append(d.attempts)
                    await c.retry([d])
                else:
                    await c.ack([d])
        # Delivered exactly max_attempts times, then set aside; the good message was not held up.
        assert attempts == [1, 2, 3]
        assert await kit.dead_count(bus) == 1
        assert await c.fetch(10, 1.0) == []
        assert (await bus.depth())["g"] == 0
        await c.close()
        await bus.close()

    run(go())


def test_depth_counts_waiting_messages_per_group(kit: BusKit) -> None:
    async def go() -> None:
        bus = await kit.started()
        await kit.declare(bus, "events", ["events.*"])
        await kit.declare(bus, "orders", ["orders.*"])
        assert await bus.depth() == {"events": 0, "orders": 0}
        await bus.publish(msgs(4) + msgs(2, topic="orders.paid", prefix="o"))
        async def depth_is(expected: dict[str, int]) -> bool:
            return await bus.depth() == expected

        assert await eventually(lambda: depth_is({"events": 4, "orders": 2}), 10), await bus.depth()
        c = bus.consumer("orders")
        got = await fetch_until(c, 2)
        await c.ack(got)
        await c.close()
        assert await eventually(lambda: depth_is({"events": 4, "orders": 0}), 10), await bus.depth()
        await bus.close()

    run(go())


def test_rabbitmq_unreachable_is_bus_unavailable() -> None:
    """A broker that does not answer is BusUnavailable (the API turns it into 503), never a success."""

    async def go() -> None:
        bus = RabbitBus(f"amqp://guest:guest@127.0.0.1:{free_port()}/", namespace=rabbit_namespace())
        with pytest.raises(BusUnavailable):
            await bus.start()
        with pytest.raises(BusUnavailable):
            await bus.ping()
        with pytest.raises(BusUnavailable):
            await bus.publish(msgs(1))

    run(go())
