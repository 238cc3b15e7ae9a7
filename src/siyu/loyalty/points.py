"""The points ledger: lots, spends, expiry, cancellation, clawback and adjustments.

Concurrency: every operation first takes the member's row (:func:`lock`: an UPDATE of it, which holds the
PostgreSQL row lock or SQLite's write lock until commit), so one member's operations run one after
another, whatever process or channel they come from. Under that lock:
- a spend is one conditional UPDATE ``points = points - n WHERE points >= n`` (never negative, even if
  the caller's view was stale), then takes the lots that expire first;
- lots past their expiry are expired before anything reads the balance, so none is spent after expiry;
- every entry has a per-member idempotency key (UNIQUE), so a retried request or a redelivered event
  changes nothing the second time.
Invariants (checked by tests/loyalty/test_ledger_properties.py): ``members.points`` = sum of available lots'
``remaining`` = sum of the ledger's ``delta``; ``members.pending_points`` = sum of pending lots' remaining =
sum of ``pending_delta``; nothing negative; no lot below 0 or above its amount.

Refund clawback policy: cancelling an order's points takes first what is left of that order's lot
(pending or available); if the customer already spent part of it, the shortfall is taken from other
available points, oldest expiry first, as far as the balance goes; what still remains is waived and
recorded (``clawback_waived``, no change to the balance). The balance never goes negative.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Row, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from siyu.db import affected
from siyu.kit.ids import new_id
from siyu.loyalty.errors import InsufficientPoints
from siyu.loyalty.models import Member, PointEntry, PointLot, SpendPart

RESTORE_DAYS = 30  # points given back after their lot expired are good for this long


def lock(session: Session, member_id: str) -> Member:
    m = session.scalars(update(Member).where(Member.id == member_id).values(updated_at=Member.updated_at)
                        .returning(Member), execution_options={"populate_existing": True}).one_or_none()
    assert m is not None
    return m


def _settle(m: Member, balances: Row[int, int] | None) -> bool:
    """Take the balances an UPDATE ... RETURNING answered as the member's stored state (no refresh query)."""
    if balances is None:
        return False
    set_committed_value(m, "points", balances[0])
    set_committed_value(m, "pending_points", balances[1])
    return True


def entry_for(session: Session, member_id: str, key: str) -> PointEntry | None:
    return session.scalar(select(PointEntry).where(PointEntry.member_id == member_id, PointEntry.key == key))


def _record(session: Session, m: Member, key: str, kind: str, delta: int, now: datetime, *, pending: int = 0,
            lot_id: str | None = None, ref: str | None = None, reason: str = "", channel: str | None = None,
            actor: str | None = None) -> PointEntry:
    """Apply ``delta`` / ``pending`` to the member's balances and write the entry (under the lock)."""
    if delta or pending:
        _settle(m, session.execute(
            update(Member).where(Member.id == m.id)
            .values(points=Member.points + delta, pending_points=Member.pending_points + pending)
            .returning(Member.points, Member.pending_points)).one())
    e = PointEntry(id=new_id(), member_id=m.id, key=key[:200], kind=kind, delta=delta, pending_delta=pending,
                   balance=m.points, lot_id=lot_id, ref=ref, reason=reason[:300], channel=channel, actor=actor,
                   at=now)
    session.add(e)
    session.flush()
    return e


def expire_due(session: Session, m: Member, now: datetime) -> int:
    """Expire the member's available lots whose time has come (the lock is held). Returns points expired."""
    lots = session.scalars(select(PointLot).where(PointLot.member_id == m.id, PointLot.status == "available",
                                                  PointLot.expires_at <= now).order_by(PointLot.expires_at)).all()
    total = 0
    for lot in lots:
        left = lot.remaining
        lot.status = "expired"
        lot.remaining = 0
        session.flush()
        _record(session, m, f"expire:{lot.id}", "expire", -left, now, lot_id=lot.id, reason="expired")
        total += left
    return total


def earn(session: Session, member_id: str, amount: int, *, key: str, source_kind: str, source_id: str,
         now: datetime, expiry_days: int, pending: bool = False, available_at: datetime | None = None,
         reason: str = "", channel: str | None = None, actor: str | None = None) -> PointEntry:
    """Grant points as a new lot; ``pending`` lots count once released (an order's return window)."""
    m = lock(session, member_id)
    found = entry_for(session, member_id, key)
    if found is not None or amount <= 0:
        return found or _record(session, m, key, "earn", 0, now, reason="nothing to earn", channel=channel)
    expire_due(session, m, now)
    start = available_at or now
    lot = PointLot(id=new_id(), member_id=member_id, amount=amount, remaining=amount,
                   status="pending" if pending else "available", source_kind=source_kind, source_id=source_id,
                   earned_at=now, available_at=available_at, expires_at=start + timedelta(days=expiry_days))
    session.add(lot)
    session.flush()
    if pending:
        return _record(session, m, key, "earn_pending", 0, now, pending=amount, lot_id=lot.id, ref=source_id,
                       reason=reason, channel=channel, actor=actor)
    return _record(session, m, key, "earn", amount, now, lot_id=lot.id, ref=source_id, reason=reason,
                   channel=channel, actor=actor)


def release(session: Session, lot_id: str, now: datetime, expiry_days: int) -> PointEntry | None:
    """A pending lot becomes available (its order's return window closed)."""
    lot = session.get(PointLot, lot_id)
    if lot is None:
        return None
    m = lock(session, lot.member_id)
    session.refresh(lot)
    if lot.status != "pending":
        return None
    lot.status = "available"
    lot.available_at = lot.available_at or now
    lot.expires_at = lot.available_at + timedelta(days=expiry_days)
    session.flush()
    return _record(session, m, f"release:{lot.id}", "release", lot.remaining, now, pending=-lot.remaining,
                   lot_id=lot.id, ref=lot.source_id, reason="return window closed")


def _take_from_lots(session: Session, m: Member, amount: int, now: datetime) -> list[tuple[str, int]]:
    parts: list[tuple[str, int]] = []
    left = amount
    lots = session.scalars(select(PointLot).where(PointLot.member_id == m.id, PointLot.status == "available",
                                                  PointLot.remaining > 0, PointLot.expires_at > now)
                           .order_by(PointLot.expires_at, PointLot.earned_at, PointLot.id)).all()
    for lot in lots:
        if left == 0:
            break
        take = min(left, lot.remaining)
        done = affected(session.execute(update(PointLot).where(PointLot.id == lot.id, PointLot.remaining >= take)
                                        .values(remaining=PointLot.remaining - take)))
        if not done:  # impossible under the member lock; refuse rather than corrupt
            raise RuntimeError(f"lot {lot.id} changed under the member lock")
        parts.append((lot.id, take))
        left -= take
    if left:
        raise RuntimeError(f"member {m.id}: balance and lots disagree by {left}")
    return parts


def spend(session: Session, member_id: str, amount: int, *, key: str, now: datetime, ref: str | None = None,
          reason: str = "spend", channel: str | None = None, actor: str | None = None,
          kind: str = "spend") -> PointEntry:
    """Spend points (lots expiring first go first). :class:`InsufficientPoints` if the balance is short."""
    m = lock(session, member_id)
    found = entry_for(session, member_id, key)
    if found is not None:
        return found
    expire_due(session, m, now)
    if not _settle(m, session.execute(update(Member).where(Member.id == member_id, Member.points >= amount)
                                      .values(points=Member.points - amount)
                                      .returning(Member.points, Member.pending_points)).one_or_none()):
        raise InsufficientPoints(details={"balance": m.points, "points": amount})
    parts = _take_from_lots(session, m, amount, now)
    e = PointEntry(id=new_id(), member_id=m.id, key=key[:200], kind=kind, delta=-amount, pending_delta=0,
                   balance=m.points, lot_id=None, ref=ref, reason=reason[:300], channel=channel, actor=actor, at=now)
    session.add(e)
    session.flush()
    session.add_all([SpendPart(entry_id=e.id, lot_id=lot_id, amount=n) for lot_id, n in parts])
    session.flush()
    return e


def restore(session: Session, spend_entry: PointEntry, *, key: str, now: datetime, reason: str, skip: int = 0,
            amount: int | None = None) -> PointEntry:
    """Give back the points of a spend (a cancelled redemption): into the lots they came from, or, for a lot
    that has expired meanwhile, as new points good for RESTORE_DAYS. A part of it: ``amount`` points after the
    first ``skip`` (parts taken in lot-id order), so parts given back one by one never give a point twice."""
    m = lock(session, spend_entry.member_id)
    found = entry_for(session, m.id, key)
    if found is not None:
        return found
    expire_due(session, m, now)
    total = 0
    left = amount
    for part in session.scalars(select(SpendPart).where(SpendPart.entry_id == spend_entry.id)
                                .order_by(SpendPart.lot_id)).all():
        passed = min(skip, part.amount)
        skip -= passed
        n = part.amount - passed if left is None else min(part.amount - passed, left)
        if n <= 0:
            continue
        lot = session.get(PointLot, part.lot_id)
        assert lot is not None
        if lot.status == "available" and lot.expires_at > now:
            lot.remaining += n
        else:
            session.add(PointLot(id=new_id(), member_id=m.id, amount=n, remaining=n,
                                 status="available", source_kind="restore", source_id=spend_entry.id,
                                 earned_at=now, available_at=now, expires_at=now + timedelta(days=RESTORE_DAYS)))
        total += n
        if left is not None:
            left -= n
    session.flush()
    return _record(session, m, key, "restore", total, now, ref=spend_entry.ref, reason=reason)


def cancel_source(session: Session, member_id: str, source_kind: str, source_id: str, points: int, *, key: str,
                  now: datetime, reason: str) -> list[PointEntry]:
    """Take back ``points`` earned from a source (an order refunded), by the clawback policy above."""
    m = lock(session, member_id)
    if entry_for(session, member_id, key) is not None or points <= 0:
        return []
    expire_due(session, m, now)
    out: list[PointEntry] = []
    left = points
    lots = session.scalars(select(PointLot).where(PointLot.member_id == member_id,
                                                  PointLot.source_kind == source_kind,
                                                  PointLot.source_id == source_id,
                                                  PointLot.status.in_(["pending", "available"]))
                           .order_by(PointLot.earned_at)).all()
    for n, lot in enumerate(lots):
        take = min(left, lot.remaining)
        if take == 0:
            continue
        pending = lot.status == "pending"
        lot.remaining -= take
        if lot.remaining == 0:
            lot.status = "cancelled"
        session.flush()
        out.append(_record(session, m, f"{key}:lot{n}", "cancel", 0 if pending else -take, now,
                           pending=-take if pending else 0, lot_id=lot.id, ref=source_id, reason=reason))
        left -= take
    if left:
        take = min(left, lock(session, member_id).points)
        if take:
            session.execute(update(Member).where(Member.id == member_id).values(points=Member.points - take))
            session.refresh(m)
            parts = _take_from_lots(session, m, take, now)
            e = PointEntry(id=new_id(), member_id=m.id, key=f"{key}:clawback", kind="clawback", delta=-take,
                           pending_delta=0, balance=m.points, ref=source_id, reason=reason, at=now)
            session.add(e)
            session.flush()
            session.add_all([SpendPart(entry_id=e.id, lot_id=lot_id, amount=n) for lot_id, n in parts])
            out.append(e)
            left -= take
    out.append(_record(session, m, key, "clawback_waived" if left else "cancelled", 0, now, ref=source_id,
                       reason=f"{reason}; {left} points could not be taken back" if left else reason))
    return out


def earned_from(session: Session, member_id: str, source_kind: str, source_id: str) -> int:
    """Points originally granted from a source (all its lots' amounts)."""
    return int(session.scalar(select(func.coalesce(func.sum(PointLot.amount), 0))
                              .where(PointLot.member_id == member_id, PointLot.source_kind == source_kind,
                                     PointLot.source_id == source_id)) or 0)


def cancelled_from(session: Session, member_id: str, source_id: str) -> int:
    """Points already taken back for a source (cancel and clawback entries, pending or available)."""
    rows = session.execute(select(PointEntry.delta, PointEntry.pending_delta)
                           .where(PointEntry.member_id == member_id, PointEntry.ref == source_id,
                                  PointEntry.kind.in_(["cancel", "clawback"]))).all()
    return -sum(int(d) + int(p) for d, p in rows)


def pending_lots_of(session: Session, source_kind: str, source_id: str) -> Sequence[PointLot]:
    return session.scalars(select(PointLot).where(PointLot.source_kind == source_kind,
                                                  PointLot.source_id == source_id,
                                                  PointLot.status == "pending")).all()


def due_for_release(session: Session, now: datetime, limit: int = 1000) -> list[str]:
    return list(session.scalars(select(PointLot.id).where(PointLot.status == "pending",
                                                          PointLot.available_at <= now).limit(limit)))


def members_with_due_expiry(session: Session, now: datetime, limit: int = 1000) -> list[str]:
    return list(session.scalars(select(PointLot.member_id).where(PointLot.status == "available",
                                                                 PointLot.expires_at <= now)
                                .group_by(PointLot.member_id).limit(limit)))


def adjust(session: Session, member_id: str, points: int, *, key: str, now: datetime, reason: str,
           actor: str | None, expiry_days: int) -> PointEntry:
    """An operator's adjustment: a grant is a new lot; a deduction spends like a purchase (so it too can
    never take the balance below zero)."""
    if points > 0:
        return earn(session, member_id, points, key=key, source_kind="adjust", source_id=key[:128], now=now,
                    expiry_days=expiry_days, reason=reason, actor=actor)
    return spend(session, member_id, -points, key=key, now=now, reason=reason, actor=actor, kind="adjust")
