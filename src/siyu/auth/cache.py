"""Platform API credentials, checked once and then cached briefly in the process.

Every platform request names a token; looking it up (a hash and a query, or a JWT signature) on each one
took a database session and a thread of its own. A valid answer is kept for ``TTL_S`` seconds, never
beyond the token's own expiry, so a token revoked through another API process (or the CLI) stops working
everywhere within that time, and at once in the process that revoked it (:meth:`PrincipalCache.forget`).
Refusals are not cached: a token created a moment ago works at once.
"""

from __future__ import annotations

import time
from datetime import datetime

import anyio.to_thread

from siyu.auth.service import Principal, authenticate
from siyu.db import Database
from siyu.kit.clock import utcnow

TTL_S = 2.0
_MAX = 10_000


class PrincipalCache:
    def __init__(self, db: Database, ttl_s: float = TTL_S) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Principal]] = {}

    def _lookup(self, token: str) -> Principal:
        with self.db.session() as session:
            return authenticate(session, token)

    async def resolve(self, token: str) -> Principal:
        """The principal of a bearer token, or raise ``invalid_token``."""
        now = time.monotonic()
        hit = self._cache.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = await anyio.to_thread.run_sync(self._lookup, token)
        if len(self._cache) >= _MAX:
            self._cache.clear()
        self._cache[token] = (now + self._ttl(found.expires_at), found)
        return found

    def _ttl(self, expires_at: datetime | None) -> float:
        if expires_at is None:
            return self.ttl_s
        return max(0.0, min(self.ttl_s, (expires_at - utcnow()).total_seconds()))

    def forget(self) -> None:
        """Drop every cached answer (after a revocation in this process)."""
        self._cache.clear()
