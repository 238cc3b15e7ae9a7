"""The server bus: RabbitMQ.

One durable topic exchange (``<namespace>``, by default ``siyu``); each consumer group is a durable quorum
queue ``<namespace>.<group>`` bound to its topic patterns, with a delivery limit after which a message is
dead-lettered to ``<namespace>.dead``. Messages are persistent and published with publisher confirms:
``publish`` returns only after the broker has confirmed every message (written to disk on the queue's
members). Consumers use manual acknowledgement; whatever a consumer had not acknowledged when its channel
closed is delivered again. The connection reconnects by itself after a broker restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from siyu.bus.base import Bus, BusUnavailable, Consumer, Delivery, Message

log = logging.getLogger("siyu.bus.rabbitmq")


class RabbitBus(Bus):
    name = "rabbitmq"

    def __init__(
        self, url: str, *, namespace: str = "siyu", max_attempts: int = 20, publish_timeout_s: float = 10.0
    ) -> None:
        self.url = url
        self.namespace = namespace
        self.exchange_name = namespace
        self.dead_name = f"{namespace}.dead"
        self.max_attempts = max_attempts
        self.publish_timeout_s = publish_timeout_s
        self._conn: AbstractRobustConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._groups: set[str] = set()

    async def start(self) -> None:
        if self._conn is not None:
            return
        try:
            self._conn = await aio_pika.connect_robust(self.url, timeout=10)
            self._channel = await self._conn.channel(publisher_confirms=True)
            self._exchange = await self._channel.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
            dead = await self._channel.declare_exchange(
                self.dead_name, aio_pika.ExchangeType.FANOUT, durable=True
            )
            dq = await self._channel.declare_queue(self.dead_name, durable=True)
            await dq.bind(dead)
        except Exception as exc:
            raise BusUnavailable(details={"reason": repr(exc)}) from exc

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def queue_name(self, group: str) -> str:
        return f"{self.namespace}.{group}"

    def _require(self) -> tuple[aio_pika.abc.AbstractChannel, aio_pika.abc.AbstractExchange]:
        if self._channel is None or self._exchange is None:
            raise BusUnavailable(details={"reason": "not started"})
        return self._channel, self._exchange

    async def declare_group(self, group: str, patterns: Sequence[str]) -> None:
        channel, exchange = self._require()
        queue = await channel.declare_queue(
            self.queue_name(group),
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                # The broker counts *re*deliveries: a limit of N allows N + 1 deliveries in all.
                "x-delivery-limit": max(0, self.max_attempts - 1),
                "x-dead-letter-exchange": self.dead_name,
            },
        )
        for pattern in patterns:
            await queue.bind(exchange, routing_key=pattern)
        self._groups.add(group)

    async def publish(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        _, exchange = self._require()
        try:
            await asyncio.wait_for(
                asyncio.gather(
                    *(
                        exchange.publish(
                            aio_pika.Message(
                                m.body,
                                message_id=m.id,
                                headers=dict(m.headers),
                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            ),
                            routing_key=m.topic,
                        )
                        for m in messages
                    )
                ),
                timeout=self.publish_timeout_s,
            )
        except Exception as exc:
            raise BusUnavailable(details={"reason": repr(exc)}) from exc

    def consumer(self, group: str, prefetch: int = 256) -> RabbitConsumer:
        return RabbitConsumer(self, group, prefetch)

    async def depth(self) -> dict[str, int]:
        if self._conn is None:
            return {}
        out: dict[str, int] = {}
        channel = await self._conn.channel()
        try:
            for group in sorted(self._groups):
                q = await channel.declare_queue(self.queue_name(group), passive=True)
                out[group] = int(q.declaration_result.message_count or 0)
        finally:
            await channel.close()
        return out

    async def ping(self) -> None:
        if self._conn is None or self._conn.is_closed:
            raise BusUnavailable(details={"reason": "not connected"})
        try:
            channel = await asyncio.wait_for(self._conn.channel(), timeout=5)
            await channel.close()
        except Exception as exc:
            raise BusUnavailable(details={"reason": repr(exc)}) from exc


class RabbitConsumer(Consumer):
    def __init__(self, bus: RabbitBus, group: str, prefetch: int) -> None:
        self.bus = bus
        self.group = group
        self.prefetch = prefetch
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._tag: str | None = None

    async def _ensure(self) -> None:
        if self._channel is not None:
            return
        if self.bus._conn is None:
            raise BusUnavailable(details={"reason": "not started"})
        self._channel = await self.bus._conn.channel()
        await self._channel.set_qos(prefetch_count=self.prefetch)
        queue = await self._channel.get_queue(self.bus.queue_name(self.group), ensure=True)

        async def _on_message(message: AbstractIncomingMessage) -> None:
            await self._inbox.put(message)

        self._tag = await queue.consume(_on_message, no_ack=False)

    async def fetch(self, max_messages: int, wait_s: float) -> list[Delivery]:
        await self._ensure()
        out: list[Delivery] = []
        try:
            first = await asyncio.wait_for(self._inbox.get(), timeout=wait_s)
        except TimeoutError:
            return out
        out.append(self._delivery(first))
        while len(out) < max_messages:
            try:
                out.append(self._delivery(self._inbox.get_nowait()))
            except asyncio.QueueEmpty:
                break
        return out

    @staticmethod
    def _delivery(msg: AbstractIncomingMessage) -> Delivery:
        headers: dict[str, Any] = dict(msg.headers or {})
        attempts = int(headers.pop("x-delivery-count", 0) or 0) + 1
        message = Message(
            id=msg.message_id or "",
            topic=msg.routing_key or "",
            body=msg.body,
            headers={k: str(v) for k, v in headers.items()},
        )
        return Delivery(message=message, attempts=attempts, handle=msg)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        for d in deliveries:
            try:
                await d.handle.ack()
            except Exception as exc:  # channel gone: the broker delivers it again; consumers are idempotent
                log.warning("ack failed; message will be redelivered", extra={"error": repr(exc)})

    async def retry(self, deliveries: Sequence[Delivery]) -> None:
        for d in deliveries:
            with contextlib.suppress(Exception):
                await d.handle.nack(requeue=True)

    async def close(self) -> None:
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()
            self._channel = None
