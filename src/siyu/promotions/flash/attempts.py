"""Flash-sale attempts: the hot path, owned by the runtime (one per process, like the collector).

An attempt straddles the quota store and the database, and the order of the two is what keeps it correct,
so this object owns the attempt's transaction (rather than the request):

1. ``store.claim`` outside any transaction (Redis: the atomic script; most attempts end here, refused);
2. one short transaction: ``store.take`` (database store: the conditional UPDATEs), the reservation row
   (``service.record``), the ``Idempotency-Key`` answer; commit;
3. if step 2 fails before its commit: ``store.unclaim`` (Redis gives the units back; idempotent). If the
   commit's outcome is unknown, nothing is undone here: the reconciler finds the reservation in Redis
   and the row (or its absence) in the database and settles it after the reservation's TTL.

Member tokens and sessions are cached: a token's person for ``PERSON_CACHE_S`` seconds (a merge of two
customers is seen by attempts that much later), a session's immutable fields for its lifetime (the
window itself is checked by the store, against the database or Redis).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
from sqlalchemy.orm import Session

from siyu.auth.tokens import verify_member_token
from siyu.db import Database
from siyu.errors import SiyuError
from siyu.identity.service import current
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id
from siyu.kit.ttlcache import TtlCache
from siyu.outbox.service import Replay, claim_key, store_answer
from siyu.promotions.flash import rows, service
from siyu.promotions.flash.errors import FlashBusy, FlashLimitReached, FlashWrongChannel
from siyu.promotions.flash.store import Quotas, QuotaStore, Window

log = logging.getLogger("siyu.promotions.flash")
PERSON_CACHE_S = 10.0
_MAX_CACHED = 200_000


@dataclass(frozen=True)
class Idem:
    """An ``Idempotency-Key`` and what it is held against (see ``siyu.deps``)."""

    scope: str
    key: str
    fingerprint: str


class Replayed(Exception):
    def __init__(self, replay: Replay) -> None:
        super().__init__("replay")
        self.replay = replay


class FlashAttempts:
    def __init__(self, db: Database, quotas: Quotas) -> None:
        self.db = db
        self.quotas = quotas
        self._windows: dict[str, Window] = {}
        self._people: TtlCache[str, str] = TtlCache(PERSON_CACHE_S, _MAX_CACHED)
        self._limiter: anyio.CapacityLimiter | None = None

    def _threads(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(32)
        return self._limiter

    async def person(self, token: str) -> str:
        """The current person of a member token (raises ``invalid_token``)."""
        return await self._people.get(token, lambda: anyio.to_thread.run_sync(self._person, token,
                                                                               limiter=self._threads()))

    def _person(self, token: str) -> str:
        with self.db.session() as s:
            return current(s, verify_member_token(s, token)[0])

    async def window(self, session_id: str) -> Window:
        w = self._windows.get(session_id)
        if w is None:
            w = await anyio.to_thread.run_sync(self._window, session_id, limiter=self._threads())
            if len(self._windows) > 10_000:
                self._windows.clear()
            self._windows[session_id] = w
        return w

    def _window(self, session_id: str) -> Window:
        with self.db.session() as s:
            return Window.of(rows.get_session(s, session_id))

    async def attempt(self, session_id: str, person_id: str, channel: str, quantity: int,
                      idem: Idem | None = None, now: datetime | None = None) -> tuple[int, Any]:
        """Reserve ``quantity`` units for a customer: (status, JSON answer), or raise why not."""
        w = await self.window(session_id)
        if w.channels and channel not in w.channels:
            raise FlashWrongChannel(details={"channels": list(w.channels)})
        if quantity > w.per_member_limit:
            raise FlashLimitReached(details={"limit": w.per_member_limit})
        store = self.quotas.of(w.counter)
        if idem is not None:
            replay = await anyio.to_thread.run_sync(self._replay, idem, limiter=self._threads())
            if replay is not None:
                return replay.status, replay.body
        now = now or utcnow()
        rid = new_id()
        try:
            await store.claim(w, rid, person_id, quantity, now)
        except SiyuError:
            raise
        except Exception as exc:  # Redis unreachable (a claim that ran there is the reconciler's)
            log.exception("flash: claim failed", extra={"session_id": session_id})
            raise FlashBusy(details={"session_id": session_id}) from exc
        try:
            return await anyio.to_thread.run_sync(self._record, store, w, rid, person_id, channel, quantity, now,
                                                  idem, limiter=self._threads())
        except Replayed as r:
            return r.replay.status, r.replay.body

    def _replay(self, idem: Idem) -> Replay | None:
        """An earlier answer for this key (looked up without keeping the key: step 2 claims it)."""
        s = self.db.sessions()
        try:
            s.begin()
            return claim_key(s, idem.scope, idem.key, idem.fingerprint)
        finally:
            s.rollback()
            s.close()

    def _record(self, store: QuotaStore, w: Window, rid: str, person_id: str, channel: str, quantity: int,
                now: datetime, idem: Idem | None) -> tuple[int, Any]:
        session: Session = self.db.sessions()
        try:
            session.begin()
            if idem is not None and (replay := claim_key(session, idem.scope, idem.key, idem.fingerprint)):
                raise Replayed(replay)
            store.take(session, w, rid, person_id, quantity, now)
            body = service.reservation_out(service.record(session, w, rid, person_id, channel, quantity, now), w)
            answer = body.model_dump(mode="json")
            if idem is not None:
                store_answer(session, idem.scope, idem.key, 201, answer)
            session.flush()
        except BaseException:
            session.rollback()
            session.close()
            try:
                store.unclaim(w, rid)
            except Exception:  # Redis unreachable: the reconciler gives the units back after the TTL
                log.exception("flash: could not give back a claim", extra={"reservation_id": rid})
            raise
        try:
            session.commit()
        except Exception as exc:  # outcome unknown: the reconciler settles it after the TTL
            log.exception("flash: reservation commit failed", extra={"reservation_id": rid})
            raise FlashBusy(details={"reservation_id": rid}) from exc
        finally:
            session.close()
        return 201, answer
