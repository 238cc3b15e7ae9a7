"""Batching shared by the bus workers."""

from __future__ import annotations

import time

from siyu.bus.base import Consumer, Delivery


async def fetch_batch(consumer: Consumer, max_messages: int, wait: float) -> list[Delivery]:
    """Up to ``max_messages``; once the first arrives, linger up to ``wait`` for more, so a trickle of
    small messages makes a few larger commits instead of many tiny ones."""
    deliveries = await consumer.fetch(max_messages, wait)
    deadline = time.monotonic() + wait
    while deliveries and len(deliveries) < max_messages:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        deliveries += await consumer.fetch(max_messages - len(deliveries), left)
    return deliveries
