"""Batching shared by the bus workers."""

from __future__ import annotations

import asyncio

from siyu.bus.base import Consumer, Delivery


async def fetch_batch(consumer: Consumer, max_messages: int, wait: float) -> list[Delivery]:
    """Up to ``max_messages``; once the first arrives, linger ``wait`` for more, so a trickle of small
    messages makes a few larger commits instead of many tiny ones. The lingering is a sleep followed by one
    more fetch (not a poll): each fetch takes the bus's lock, which publishers wait for."""
    deliveries = await consumer.fetch(max_messages, wait)
    if deliveries and len(deliveries) < max_messages:
        await asyncio.sleep(wait)
        deliveries += await consumer.fetch(max_messages - len(deliveries), 0)
    return deliveries
