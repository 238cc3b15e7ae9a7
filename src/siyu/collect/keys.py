"""Write-key lookups for the tracking API, cached briefly in the process.

A positive answer is kept for ``TTL_S`` seconds, so disabling a source or rotating a key away takes
effect in every API process within that time; unknown keys are not cached, so a key created a moment
ago (by the CLI or another process) works at once.
"""

from __future__ import annotations

import time

import anyio.to_thread

from siyu.db import Database
from siyu.sources.service import SourceAuth, authenticate_key

TTL_S = 2.0


class KeyCache:
    def __init__(self, db: Database, ttl_s: float = TTL_S) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, SourceAuth]] = {}

    def _lookup(self, key: str, kinds: tuple[str, ...]) -> SourceAuth | None:
        with self.db.session() as session:
            return authenticate_key(session, key, kinds)

    async def resolve(self, key: str, kinds: tuple[str, ...]) -> SourceAuth | None:
        now = time.monotonic()
        hit = self._cache.get((key, kinds))
        if hit is not None and hit[0] > now:
            return hit[1]
        found = await anyio.to_thread.run_sync(self._lookup, key, kinds)
        if found is None:
            self._cache.pop((key, kinds), None)
            return None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[(key, kinds)] = (now + self.ttl_s, found)
        return found

    def clear(self) -> None:
        self._cache.clear()
