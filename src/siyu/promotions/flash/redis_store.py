"""The Redis quota store (server runtime): the hot path never takes a database row lock.

Per session ``S`` (one hash tag, so a Redis cluster keeps them on one node)::

    siyu:flash:{S}:cfg   hash  remaining, limit, starts, ends (ms), expire (ms)
    siyu:flash:{S}:m     hash  person -> units held (reserved, ordered, sold)
    siyu:flash:{S}:r     hash  reservation id -> "person|units", for every reservation counted
    siyu:flash:{S}:due   zset  reservation id -> when the reconciler should look at it (ms)

**Attempt.** ``TAKE`` (one Lua script, atomic) checks the window, ``held + n <= limit`` and
``remaining >= n``, then decrements the quota, adds to the customer's units, records the reservation and
schedules it in ``due`` at its expiry plus a grace period. Most attempts in a flash sale are refusals and
touch only Redis. A winner's row is then inserted in a short transaction that holds the session row
``FOR SHARE`` and first checks that Redis still has the claim (``take``). If that transaction fails before
its commit, ``RELEASE`` gives the units back at once; if the commit itself fails (its outcome unknown) or
the process dies, the reconciler decides.

**The database is the record.** Units come back (``RELEASE``: quota and the customer's units, guarded by
``HDEL`` of the reservation, so twice is once) only after the transaction that expired or released the
row has committed; before that commit ``MARK`` makes sure the reservation is in ``due`` (a sold one may
have left it), so a release lost between the commit and Redis is found. A sale changes nothing in Redis:
the units stay taken, and the reconciler takes the reservation out of ``due`` when its time comes.

**Reconciler** (in the worker, every sweep): for each reservation in ``due`` whose time has come, it reads
the row. No row: the row never reached the database (a crash between the script and the insert); it
writes a ``void`` row with that id (so a late insert collides and fails: nothing can land after the units
went back) and releases the units. Expired, released or void: a release lost in a crash; released now.
Ordered: looked at again later. Sold: out of ``due`` (``SETTLE``, unless a release marked it again
since it was read). Reserved: the expiry sweep's (same loop). It only
moves units that Redis holds for a reservation the record no longer counts back to the quota: it never
creates units (a released reservation's status is final) and never destroys them.

**Loading.** A session's keys are loaded from the record (``quota - units taken``, each customer's units,
the reservations taken) when it is created and whenever they are missing (``LOAD`` writes only if
absent), for example after Redis lost them (eviction, a flush, a failover without persistence). ``load``
reads the record holding the session row ``FOR UPDATE``; with the ``FOR SHARE`` and the check in
``take``, a claim made before the loss either has its row in the snapshot or is refused (``flash_busy``,
the customer retries), so a reload never frees a unit that a row holds. This needs PostgreSQL's row
locks: the Redis store is the server runtime's.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from siyu.db import Database
from siyu.kit.clock import utcnow
from siyu.promotions.flash import rows
from siyu.promotions.flash.errors import FlashBusy, FlashEnded, FlashLimitReached, FlashNotStarted, FlashSoldOut
from siyu.promotions.flash.lua import LOAD, MARK, RELEASE, SETTLE, TAKE, TAKE_SHA
from siyu.promotions.flash.models import FlashReservation, FlashSession
from siyu.promotions.flash.resp import RespClient, supported
from siyu.promotions.flash.store import QuotaStore, Window

log = logging.getLogger("siyu.promotions.flash")
GRACE = timedelta(seconds=30)  # after a reservation's expiry, before the reconciler looks at it
RECHECK = timedelta(minutes=5)  # an ordered reservation: look again this much later
KEEP = timedelta(days=7)  # keys live this long after the session ends
_PENDING = "siyu.flash.after_commit"


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def keys(session_id: str) -> list[str]:
    base = f"siyu:flash:{{{session_id}}}"
    return [f"{base}:cfg", f"{base}:m", f"{base}:r", f"{base}:due"]


class RedisQuotaStore(QuotaStore):
    name = "redis"

    def __init__(self, url: str, db: Database) -> None:
        import redis

        self.url = url
        self.db = db
        self.sync: Any = redis.Redis.from_url(url)
        self._release = self.sync.register_script(RELEASE)
        self._load = self.sync.register_script(LOAD)
        self._mark = self.sync.register_script(MARK)
        self._settle = self.sync.register_script(SETTLE)
        self._resp = RespClient(url) if supported(url) else None  # the hot path's client
        self._async: Any = None  # redis-py's, for URLs the small client does not speak
        self._loading: dict[str, asyncio.Lock] = {}

    async def _take(self, session_id: str, args: list[Any]) -> tuple[int, int]:
        if self._resp is not None:
            code, n = await self._resp.run_script(TAKE, TAKE_SHA, keys(session_id), args)
            return int(code), int(n)
        if self._async is None:
            import redis.asyncio as aredis

            self._async = aredis.Redis.from_url(self.url)
        code, n = await self._async.register_script(TAKE)(keys=keys(session_id), args=args)
        return int(code), int(n)

    # -- attempts ----------------------------------------------------------------------------------------------
    async def claim(self, w: Window, reservation_id: str, person_id: str, quantity: int, now: datetime) -> None:
        due = ms(now + timedelta(seconds=w.ttl_s) + GRACE)
        args: list[Any] = [reservation_id, person_id, quantity, ms(now), due]
        code, n = await self._take(w.id, args)
        if code == 1:  # not loaded: load from the record, once per process at a time
            lock = self._loading.setdefault(w.id, asyncio.Lock())
            async with lock:
                await asyncio.to_thread(self.load, w.id)
            code, n = await self._take(w.id, args)
        if code == 0:
            return
        if code == 2:
            raise FlashNotStarted(details={"session_id": w.id})
        if code == 3:
            raise FlashEnded(details={"session_id": w.id})
        if code == 4:
            raise FlashLimitReached(details={"limit": w.per_member_limit, "held": n})
        raise FlashSoldOut(details={"session_id": w.id, "remaining": n})

    def take(self, session: Session, w: Window, reservation_id: str, person_id: str, quantity: int,
             now: datetime) -> None:
        """In the reservation's transaction, before its row: the claim must still be in Redis. Redis may have
        lost it (keys evicted, flushed, a failover) and been loaded again from the record, which has no row
        for this claim yet; writing the row then would sell a unit the reloaded quota also counts as free.
        The session row is held ``FOR SHARE`` to the commit, and ``load`` reads the record under
        ``FOR UPDATE``, so a load either sees this row or runs before this check, which then refuses."""
        rows.get_session(session, w.id, share=True)
        if not self.sync.hexists(keys(w.id)[2], reservation_id):
            raise FlashBusy(details={"session_id": w.id, "reason": "the quota was reloaded; retry"})

    def load(self, session_id: str) -> None:
        """Load the session's keys from the record, unless they are there (see ``take``)."""
        with self.db.session() as s:
            rows.get_session(s, session_id, lock=True)
            self._load(keys=keys(session_id), args=self._snapshot(s, session_id))

    def unclaim(self, w: Window, reservation_id: str) -> None:
        self._release(keys=keys(w.id), args=[reservation_id])

    # -- after the record changed ------------------------------------------------------------------------------
    def give_back(self, session: Session, r: FlashReservation) -> None:
        """Marked in ``due`` now (if Redis is unreachable this raises and the change is retried), released
        after the commit: a release lost in between is the reconciler's, sold reservations included."""
        fs = rows.get_session(session, r.session_id)
        self._mark(keys=keys(r.session_id), args=[r.id, ms(utcnow() + GRACE), ms(fs.ends_at + KEEP)])
        self._after_commit(session, ("release", r.session_id, r.id, 0))

    def opened(self, session: Session, fs: FlashSession) -> None:
        self._after_commit(session, ("window", fs.id, "", 0))

    def _after_commit(self, session: Session, op: tuple[str, str, str, int]) -> None:
        if _PENDING not in session.info:
            session.info[_PENDING] = []
            if not session.info.get(_PENDING + ".listening"):
                session.info[_PENDING + ".listening"] = True
                event.listen(session, "after_commit", self._apply_pending)
                event.listen(session, "after_rollback", _drop_pending)
        session.info[_PENDING].append(op)

    def _apply_pending(self, session: Session) -> None:
        for kind, session_id, rid, at in session.info.pop(_PENDING, []):
            try:
                k = keys(session_id)
                if kind == "release":
                    self._release(keys=k, args=[rid])
                elif kind == "settle":
                    self._settle(keys=k, args=[rid, at])
                elif kind == "defer":
                    self.sync.zadd(k[3], {rid: at}, xx=True)
                else:
                    self._window(session_id)
            except Exception:  # the reconciler applies it later
                log.exception("flash: Redis update after commit failed", extra={"session_id": session_id})

    def _window(self, session_id: str) -> None:
        with self.db.session() as s:
            fs = rows.get_session(s, session_id)
            starts, ends = ms(fs.starts_at), ms(fs.ends_at)
        cfg = keys(session_id)[0]
        if self.sync.hexists(cfg, "limit"):
            self.sync.hset(cfg, mapping={"starts": starts, "ends": ends})
        else:
            self.load(session_id)

    # -- loading -----------------------------------------------------------------------------------------------
    def _snapshot(self, session: Session, session_id: str) -> list[Any]:
        """LOAD's arguments, from the record."""
        fs = rows.get_session(session, session_id)
        taken = rows.held(session, session_id)
        remaining = fs.quota - sum(h.quantity for h in taken)
        args: list[Any] = [remaining, fs.per_member_limit, ms(fs.starts_at), ms(fs.ends_at), ms(fs.ends_at + KEEP),
                           len(taken)]
        for h in taken:
            due = ms(h.expires_at + GRACE) if h.status != "sold" else "-"
            args += [h.id, h.person_id, h.quantity, due]
        return args

    def remaining(self, session: Session, fs: FlashSession) -> int:
        """Redis's count; if the keys are not loaded, what loading them would give (read, not loaded)."""
        value = self.sync.hget(keys(fs.id)[0], "remaining")
        if value is None:
            return fs.quota - sum(h.quantity for h in rows.held(session, fs.id))
        return int(value)

    # -- reconciling -------------------------------------------------------------------------------------------
    def reconcile(self, now: datetime) -> int:
        with self.db.session() as s:
            sessions = rows.sessions_to_reconcile(s, self.name, now - KEEP)
        return sum(self._reconcile_session(sid, now) for sid in sessions)

    def _reconcile_session(self, session_id: str, now: datetime) -> int:
        k = keys(session_id)
        due = [d.decode() for d in self.sync.zrangebyscore(k[3], "-inf", ms(now), start=0, num=500)]
        if not due:
            return 0
        fixed = 0
        with self.db.session() as s:
            found = rows.statuses(s, due)
            for rid in due:
                status = found.get(rid)
                if status is None:
                    if self._tombstone(s, session_id, rid, now):
                        fixed += 1
                        self._after_commit(s, ("release", session_id, rid, 0))
                    continue
                if status in ("expired", "released", "void"):
                    fixed += 1
                    self._after_commit(s, ("release", session_id, rid, 0))
                elif status == "sold":
                    self._after_commit(s, ("settle", session_id, rid, ms(now)))
                else:  # ordered (the order decides), or reserved (the expiry sweep's)
                    self._after_commit(s, ("defer", session_id, rid, ms(now + RECHECK)))
        return fixed

    def _tombstone(self, session: Session, session_id: str, rid: str, now: datetime) -> bool:
        value = self.sync.hget(keys(session_id)[2], rid)
        if value is None:
            self.sync.zrem(keys(session_id)[3], rid)
            return False
        person, _, units = value.decode().partition("|")
        row = FlashReservation(id=rid, session_id=session_id, person_id=person, channel="", quantity=int(units),
                               status="void", expires_at=now, order_id=None, created_at=now, settled_at=now)
        return rows.insert_reservation(session, row)

    def close(self) -> None:
        self.sync.close()

    async def aclose(self) -> None:
        self.close()
        if self._resp is not None:
            await self._resp.aclose()
        if self._async is not None:
            await self._async.aclose()
            self._async = None


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
