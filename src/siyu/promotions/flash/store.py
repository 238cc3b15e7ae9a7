"""Where a flash sale's live counters are kept: the quota left and the units each customer holds.

Two stores behind one interface, chosen per session when it is created (``FlashSession.counter``):

- :class:`DbQuotaStore` (embedded runtime, or any database without Redis): the counters are columns of the
  operational database, changed by conditional UPDATEs in the transaction that writes the reservation:
  ``flash_holdings.units = units + n WHERE units + n <= per_member_limit`` then
  ``flash_sessions.remaining = remaining - n WHERE remaining >= n``. A statement that changes no row is a
  refusal and rolls the attempt back; the ``remaining >= 0`` CHECK is a last line of defence. Concurrent
  attempts serialize on the session row (SQLite: on its write lock), so the quota is never oversold.
- :class:`~siyu.promotions.flash.redis_store.RedisQuotaStore` (server runtime): one Lua script checks the
  window, the customer's units and the quota and takes them, atomically in Redis, before any database
  row is touched; the reservation row is written next and is the record Redis is reconciled with (see
  that module).

An attempt is ``claim`` (outside any transaction: the Redis script; for the database store a read-only
filter, so that the flood of refusals after a sell-out takes no write lock), then ``take`` inside the
transaction that inserts the reservation row (the database store's conditional UPDATEs, which decide;
for Redis, a check that the claim is still there), then ``unclaim`` if that transaction failed before
committing. Units come back with ``give_back`` and are marked sold with ``sold``, both in the transaction
that changes the reservation's status (Redis: applied right after that transaction commits; if the
process dies in between, the reconciler applies them).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from datetime import datetime

import anyio
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.db import Database, affected, upsert
from siyu.promotions.flash.errors import (
    FlashCounterElsewhere,
    FlashEnded,
    FlashLimitReached,
    FlashNotStarted,
    FlashSessionNotFound,
    FlashSoldOut,
)
from siyu.promotions.flash.models import FlashHolding, FlashReservation, FlashSession


@dataclass(frozen=True)
class Window:
    """What an attempt needs to know about its session (immutable but for the window's end)."""

    id: str
    sku_id: str
    channels: tuple[str, ...]
    price_fen: int
    quota: int
    per_member_limit: int
    ttl_s: int
    starts_at: datetime
    ends_at: datetime
    counter: str

    @classmethod
    def of(cls, fs: FlashSession) -> Window:
        return cls(fs.id, fs.sku_id, tuple(fs.channels or ()), fs.price_fen, fs.quota, fs.per_member_limit,
                   fs.reservation_ttl_s, fs.starts_at, fs.ends_at, fs.counter)


def check_window(w: Window, now: datetime) -> None:
    if now < w.starts_at:
        raise FlashNotStarted(details={"session_id": w.id, "starts_at": w.starts_at.isoformat()})
    if now >= w.ends_at:
        raise FlashEnded(details={"session_id": w.id, "ends_at": w.ends_at.isoformat()})


class QuotaStore(ABC):
    name: str

    async def claim(self, w: Window, reservation_id: str, person_id: str, quantity: int, now: datetime) -> None:
        """Before the reservation's transaction: take the units in the hot counter, or raise why not."""
        return None

    def take(self, session: Session, w: Window, reservation_id: str, person_id: str, quantity: int,
             now: datetime) -> None:
        """In the reservation's transaction, before its row is written: take the units, or raise why not."""
        return None

    def unclaim(self, w: Window, reservation_id: str) -> None:
        """The reservation's transaction failed before committing: undo ``claim``."""
        return None

    @abstractmethod
    def give_back(self, session: Session, r: FlashReservation) -> None:
        """``r`` has just been expired or released in this transaction: its units return to the quota."""

    def sold(self, session: Session, r: FlashReservation) -> None:
        """``r`` has just been sold in this transaction (its units stay taken)."""
        return None

    @abstractmethod
    def remaining(self, session: Session, fs: FlashSession) -> int: ...

    def opened(self, session: Session, fs: FlashSession) -> None:
        """``fs`` was created or its window changed in this transaction."""
        return None

    def reconcile(self, now: datetime) -> int:
        """Repair what a crash left between the store and the database; how many reservations it fixed."""
        return 0

    def close(self) -> None:
        return None

    async def aclose(self) -> None:
        self.close()


_HELD = select(FlashHolding.units).where(FlashHolding.session_id == bindparam("sid"),
                                        FlashHolding.person_id == bindparam("pid")).scalar_subquery()
_FILTER = select(FlashSession.remaining, FlashSession.starts_at, FlashSession.ends_at, _HELD).where(
    FlashSession.id == bindparam("sid"))  # built once: executions hit the compiled cache


class DbQuotaStore(QuotaStore):
    name = "db"

    def __init__(self, db: Database) -> None:
        self.db = db
        self.inline = db.url.startswith("sqlite")  # WAL reads never wait: read on the event loop

    async def claim(self, w: Window, reservation_id: str, person_id: str, quantity: int, now: datetime) -> None:
        """A read-only filter: once the quota is gone (or the customer is at the limit) the flood of attempts
        is refused without a transaction or a write lock. ``take`` decides."""
        if self.inline:
            self._filter(w, person_id, quantity, now)
        else:
            await anyio.to_thread.run_sync(self._filter, w, person_id, quantity, now)

    def _filter(self, w: Window, person_id: str, quantity: int, now: datetime) -> None:
        with self.db.engine.connect() as conn:
            row = conn.execute(_FILTER, {"sid": w.id, "pid": person_id}).first()
            conn.rollback()
        if row is None:
            raise FlashSessionNotFound(details={"session_id": w.id})
        remaining, starts_at, ends_at, units = row
        check_window(replace(w, starts_at=starts_at, ends_at=ends_at), now)
        if (units or 0) + quantity > w.per_member_limit:
            raise FlashLimitReached(details={"limit": w.per_member_limit, "held": units or 0})
        if remaining < quantity:
            raise FlashSoldOut(details={"session_id": w.id, "remaining": remaining})

    def take(self, session: Session, w: Window, reservation_id: str, person_id: str, quantity: int,
             now: datetime) -> None:
        session.execute(upsert(session, FlashHolding).values(session_id=w.id, person_id=person_id, units=0)
                        .on_conflict_do_nothing())
        if not affected(session.execute(update(FlashHolding).where(
                FlashHolding.session_id == w.id, FlashHolding.person_id == person_id,
                FlashHolding.units + quantity <= w.per_member_limit).values(units=FlashHolding.units + quantity))):
            raise FlashLimitReached(details={"limit": w.per_member_limit})
        if not affected(session.execute(update(FlashSession).where(
                FlashSession.id == w.id, FlashSession.remaining >= quantity, FlashSession.starts_at <= now,
                FlashSession.ends_at > now).values(remaining=FlashSession.remaining - quantity))):
            fs = session.get(FlashSession, w.id, populate_existing=True)
            assert fs is not None
            check_window(Window.of(fs), now)
            raise FlashSoldOut(details={"session_id": w.id})

    def give_back(self, session: Session, r: FlashReservation) -> None:
        session.execute(update(FlashSession).where(FlashSession.id == r.session_id)
                        .values(remaining=FlashSession.remaining + r.quantity))
        session.execute(update(FlashHolding).where(FlashHolding.session_id == r.session_id,
                                                   FlashHolding.person_id == r.person_id)
                        .values(units=FlashHolding.units - r.quantity))

    def remaining(self, session: Session, fs: FlashSession) -> int:
        value = session.scalar(select(FlashSession.remaining).where(FlashSession.id == fs.id))
        return int(value or 0)


class Quotas:
    """The stores of this process: the database's always, Redis's when ``SIYU_REDIS_URL`` is set. A new
    session is kept by Redis when there is one."""

    def __init__(self, db_store: DbQuotaStore, redis: QuotaStore | None) -> None:
        self.db_store = db_store
        self.redis = redis

    @property
    def default(self) -> QuotaStore:
        return self.redis or self.db_store

    def of(self, counter: str) -> QuotaStore:
        if counter == "db":
            return self.db_store
        if self.redis is None:
            raise FlashCounterElsewhere(details={"counter": counter})
        return self.redis

    def reconcile(self, now: datetime) -> int:
        return self.redis.reconcile(now) if self.redis is not None else 0

    def close(self) -> None:
        if self.redis is not None:
            self.redis.close()

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


def make_quotas(settings: Settings, db: Database) -> Quotas:
    redis: QuotaStore | None = None
    if settings.redis_url:
        from siyu.promotions.flash.redis_store import RedisQuotaStore

        redis = RedisQuotaStore(settings.redis_url, db)
    return Quotas(DbQuotaStore(db), redis)
