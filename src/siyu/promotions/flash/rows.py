"""Flash-sale rows: reads and the conditional status changes every path shares (service, stores, tasks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.db import affected, upsert
from siyu.promotions.flash.errors import FlashSessionNotFound
from siyu.promotions.flash.models import TAKEN, FlashReservation, FlashSession


@dataclass(frozen=True)
class Held:
    """A reservation counted against the quota (for loading the Redis counters from the record)."""

    id: str
    person_id: str
    quantity: int
    status: str
    expires_at: datetime


def get_session(session: Session, session_id: str, *, lock: bool = False, share: bool = False) -> FlashSession:
    """The session row; ``lock``: ``FOR UPDATE``, ``share``: ``FOR SHARE`` (PostgreSQL; SQLite ignores both)."""
    q = select(FlashSession).where(FlashSession.id == session_id)
    if lock or share:
        q = q.with_for_update(read=not lock)
    fs = session.scalar(q)
    if fs is None:
        raise FlashSessionNotFound(details={"session_id": session_id})
    return fs


def reservation(session: Session, reservation_id: str) -> FlashReservation | None:
    return session.get(FlashReservation, reservation_id, populate_existing=True)


def by_order(session: Session, order_id: str) -> FlashReservation | None:
    return session.scalar(select(FlashReservation).where(FlashReservation.order_id == order_id))


def held(session: Session, session_id: str) -> list[Held]:
    rows = session.execute(select(FlashReservation.id, FlashReservation.person_id, FlashReservation.quantity,
                                  FlashReservation.status, FlashReservation.expires_at)
                           .where(FlashReservation.session_id == session_id, FlashReservation.status.in_(TAKEN)))
    return [Held(*r) for r in rows]


def units_by_status(session: Session, session_id: str) -> dict[str, int]:
    rows = session.execute(select(FlashReservation.status, func.sum(FlashReservation.quantity))
                           .where(FlashReservation.session_id == session_id).group_by(FlashReservation.status))
    return {str(s): int(n or 0) for s, n in rows}


def statuses(session: Session, ids: Sequence[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {i: s for i, s in session.execute(select(FlashReservation.id, FlashReservation.status)
                                             .where(FlashReservation.id.in_(list(ids))))}


def move(session: Session, reservation_id: str, expected: Sequence[str], to: str, now: datetime,
         **values: object) -> bool:
    """One conditional status change; False if the reservation was not in an ``expected`` status."""
    if to not in ("reserved", "ordered"):
        values.setdefault("settled_at", now)
    return affected(session.execute(update(FlashReservation).where(
        FlashReservation.id == reservation_id, FlashReservation.status.in_(list(expected))).values(status=to, **values)
    )) == 1


def insert_reservation(session: Session, row: FlashReservation) -> bool:
    """Insert a reservation; False if its id exists already (the Redis reconciler's tombstone got there)."""
    won = session.execute(upsert(session, FlashReservation).values(
        id=row.id, session_id=row.session_id, person_id=row.person_id, channel=row.channel, quantity=row.quantity,
        status=row.status, expires_at=row.expires_at, order_id=row.order_id, created_at=row.created_at,
        settled_at=row.settled_at,
    ).on_conflict_do_nothing().returning(FlashReservation.id)).first()
    return won is not None


def expired_ids(session: Session, now: datetime, limit: int = 500) -> list[str]:
    return list(session.scalars(select(FlashReservation.id).where(
        FlashReservation.status == "reserved", FlashReservation.expires_at <= now)
        .order_by(FlashReservation.expires_at).limit(limit)))


def sessions_to_reconcile(session: Session, counter: str, since: datetime) -> list[str]:
    return list(session.scalars(select(FlashSession.id).where(FlashSession.counter == counter,
                                                              FlashSession.ends_at > since)))
