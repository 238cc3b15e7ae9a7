"""Write-key lookups for the tracking API, cached briefly in the process.

A positive answer is kept for ``TTL_S`` seconds, so disabling a source or rotating a key away takes
effect in every API process within that time; unknown keys are not cached, so a key created a moment
ago (by the CLI or another process) works at once.
"""

from __future__ import annotations

import anyio.to_thread

from siyu.db import Database
from siyu.kit.ttlcache import TtlCache
from siyu.sources.service import SourceAuth, authenticate_key

TTL_S = 2.0


class _Unknown(Exception):
    """No source has this key (not cached: a key created a moment ago must work at once)."""


class KeyCache:
    def __init__(self, db: Database, ttl_s: float = TTL_S) -> None:
        self.db = db
        self._cache: TtlCache[tuple[str, tuple[str, ...]], SourceAuth] = TtlCache(ttl_s)

    def _lookup(self, key: str, kinds: tuple[str, ...]) -> SourceAuth:
        with self.db.session() as session:
            found = authenticate_key(session, key, kinds)
        if found is None:
            raise _Unknown()
        return found

    async def resolve(self, key: str, kinds: tuple[str, ...]) -> SourceAuth | None:
        try:
            return await self._cache.get((key, kinds), lambda: anyio.to_thread.run_sync(self._lookup, key, kinds))
        except _Unknown:
            return None

    def clear(self) -> None:
        self._cache.forget()
