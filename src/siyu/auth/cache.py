"""Platform API credentials, checked once and then cached briefly in the process.

Every platform request names a token; looking it up (a hash and a query, or a JWT signature) on each one
took a database session and a thread of its own. A valid answer is kept for ``TTL_S`` seconds, never
beyond the token's own expiry, so a token revoked through another API process (or the CLI) stops working
everywhere within that time, and at once in the process that revoked it (:meth:`PrincipalCache.forget`).
Refusals are not cached: a token created a moment ago works at once.
"""

from __future__ import annotations

import anyio.to_thread

from siyu.auth.service import Principal, authenticate
from siyu.db import Database
from siyu.kit.clock import utcnow
from siyu.kit.ttlcache import TtlCache

TTL_S = 2.0


class PrincipalCache:
    def __init__(self, db: Database, ttl_s: float = TTL_S) -> None:
        self.db = db
        self._cache: TtlCache[str, Principal] = TtlCache(ttl_s)

    def _lookup(self, token: str) -> Principal:
        with self.db.session() as session:
            return authenticate(session, token)

    async def resolve(self, token: str) -> Principal:
        """The principal of a bearer token, or raise ``invalid_token``."""
        return await self._cache.get(token, lambda: anyio.to_thread.run_sync(self._lookup, token), _remaining)

    def forget(self) -> None:
        """Drop every cached answer (after a revocation in this process)."""
        self._cache.forget()


def _remaining(p: Principal) -> float:
    """A token is never trusted from the cache beyond its own expiry."""
    return float("inf") if p.expires_at is None else (p.expires_at - utcnow()).total_seconds()
