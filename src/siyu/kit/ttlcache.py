"""A small in-process cache of answers that are expensive to look up and may go stale for a moment
(credentials, a token's person), for the event loop.

Each key is looked up by one caller at a time (single flight): when an entry runs out under load, the
requests that need it in the meantime wait for that one lookup instead of each starting their own (a
busy API process used to send every in-flight request's lookup to a thread at once, every time an entry
ran out). Failed lookups (exceptions) are not cached and reach every waiter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self._inflight: dict[K, asyncio.Task[V]] = {}

    async def get(self, key: K, lookup: Callable[[], Awaitable[V]],
                  ttl: Callable[[V], float] | None = None) -> V:
        """The cached answer for ``key``, or the answer of ``lookup()`` (kept for ``ttl(answer)`` seconds,
        at most ``ttl_s``; an answer whose ttl is 0 or less is not kept). The lookup runs as a task of its
        own: a caller that is cancelled (its client went away) does not cancel it for the others."""
        hit = self._entries.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fill(key, lookup, ttl))
            task.add_done_callback(_retrieved)
            self._inflight[key] = task
        return await asyncio.shield(task)

    async def _fill(self, key: K, lookup: Callable[[], Awaitable[V]], ttl: Callable[[V], float] | None) -> V:
        try:
            value = await lookup()
        finally:
            del self._inflight[key]
        keep = self.ttl_s if ttl is None else min(self.ttl_s, ttl(value))
        if keep > 0:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + keep, value)
        return value

    def forget(self, key: K | None = None) -> None:
        """Drop one entry, or every entry."""
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)


def _retrieved(task: asyncio.Task[object]) -> None:
    """A failed lookup whose callers all went away is not an unhandled error."""
    if not task.cancelled():
        task.exception()
