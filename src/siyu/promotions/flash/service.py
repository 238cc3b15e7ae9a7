"""Flash sales: sessions, reservations, the special price an order claims with one, and units coming
back. Attempts themselves are in ``attempts.py`` (they straddle Redis and the database).

Concurrency: every change of a reservation is one conditional UPDATE on its expected status
(``rows.move``), and the units of a reservation go back to the quota (``store.give_back``) only in the
transaction whose conditional UPDATE won, so an expiry, a cancellation and a redelivered event cannot
return the same units twice:

- ``attach`` (the order's transaction): ``reserved -> ordered WHERE expires_at > now AND owner``; two
  orders racing for one reservation: one wins, the other rolls back (``reservation_used``);
- ``expire_due`` (sweeper): ``reserved -> expired`` for reservations past ``expires_at`` (an order that
  attached first wins: the sweeper's UPDATE then matches no row);
- ``order_paid`` / ``order_cancelled`` (bus consumer): ``ordered -> sold`` and ``ordered|sold -> released``.

A reservation attached to an order follows the order: its payment deadline (the order's unpaid timeout)
replaces the reservation's TTL; a late payment is refused and refunded by the orders domain (the order is
cancelled first), so a unit that went back to the quota is never sold twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.catalog import service as catalog
from siyu.db import affected
from siyu.identity.anchors import constituents
from siyu.kit.ids import new_id
from siyu.promotions import specials
from siyu.promotions.flash import rows
from siyu.promotions.flash.errors import (
    FlashBusy,
    ReservationExpired,
    ReservationNotFound,
    ReservationUsed,
)
from siyu.promotions.flash.models import LIVE, FlashReservation, FlashSession
from siyu.promotions.flash.schemas import KIND, FlashSessionIn, FlashSessionOut, FlashStats, ReservationOut
from siyu.promotions.flash.store import Quotas, Window
from siyu.promotions.schemas import PromotionRef


def create(session: Session, body: FlashSessionIn, quotas: Quotas, now: datetime) -> FlashSession:
    """A flash sale of ``quota`` units of one SKU; its counters are kept by Redis when there is one."""
    catalog.get_sku(session, body.sku_id)
    store = quotas.default
    fs = FlashSession(id=new_id(), name=body.name, sku_id=body.sku_id, channels=[c.value for c in body.channels],
                      price_fen=body.price_fen, quota=body.quota, remaining=body.quota,
                      per_member_limit=body.per_member_limit, reservation_ttl_s=body.reservation_ttl_s,
                      starts_at=body.starts_at, ends_at=body.ends_at, counter=store.name, created_at=now)
    session.add(fs)
    session.flush()
    store.opened(session, fs)
    return fs


def end(session: Session, session_id: str, quotas: Quotas, now: datetime) -> FlashSession:
    """Close the sale now (reservations already made stay valid until they expire)."""
    fs = rows.get_session(session, session_id)
    if fs.ends_at > now:
        fs.ends_at = max(now, fs.starts_at)
        session.flush()
        quotas.of(fs.counter).opened(session, fs)
    return fs


def listing(session: Session, open_at: datetime | None) -> Sequence[FlashSession]:
    q = select(FlashSession).order_by(FlashSession.starts_at)
    if open_at is not None:
        q = q.where(FlashSession.ends_at > open_at)
    return session.scalars(q.limit(500)).all()


def session_out(session: Session, fs: FlashSession, quotas: Quotas) -> FlashSessionOut:
    remaining = quotas.of(fs.counter).remaining(session, fs)
    return FlashSessionOut(id=fs.id, name=fs.name, sku_id=fs.sku_id, channels=list(fs.channels or []),
                           price_fen=fs.price_fen, quota=fs.quota, remaining=remaining,
                           per_member_limit=fs.per_member_limit, reservation_ttl_s=fs.reservation_ttl_s,
                           starts_at=fs.starts_at, ends_at=fs.ends_at, counter=fs.counter, created_at=fs.created_at)


def stats(session: Session, session_id: str, quotas: Quotas) -> FlashStats:
    fs = rows.get_session(session, session_id)
    units = rows.units_by_status(session, session_id)
    remaining = quotas.of(fs.counter).remaining(session, fs)
    reserved, ordered, sold = units.get("reserved", 0), units.get("ordered", 0), units.get("sold", 0)
    return FlashStats(session_id=fs.id, quota=fs.quota, remaining=remaining, reserved=reserved, ordered=ordered,
                      sold=sold, returned=units.get("expired", 0) + units.get("released", 0),
                      balanced=sold + reserved + ordered + remaining == fs.quota)


# -- reservations ----------------------------------------------------------------------------------------------
def record(session: Session, w: Window, reservation_id: str, person_id: str, channel: str, quantity: int,
           now: datetime) -> FlashReservation:
    """Write the reservation an attempt took units for (in the attempt's transaction)."""
    r = FlashReservation(id=reservation_id, session_id=w.id, person_id=person_id, channel=channel,
                         quantity=quantity, status="reserved", expires_at=now + timedelta(seconds=w.ttl_s),
                         order_id=None, created_at=now, settled_at=None)
    if not rows.insert_reservation(session, r):  # the reconciler gave these units back already
        raise FlashBusy(details={"reservation_id": reservation_id})
    return r


def reservation_out(r: FlashReservation, w: Window) -> ReservationOut:
    return ReservationOut(id=r.id, session_id=r.session_id, sku_id=w.sku_id, person_id=r.person_id,
                          channel=r.channel, quantity=r.quantity, price_fen=w.price_fen, status=r.status,
                          expires_at=r.expires_at, order_id=r.order_id, promotion=PromotionRef(kind=KIND, id=r.id))


def get_reservation(session: Session, reservation_id: str, person_ids: Sequence[str] | None) -> FlashReservation:
    """A reservation; ``person_ids``: only if one of them owns it (members)."""
    r = rows.reservation(session, reservation_id)
    if r is None or r.status == "void" or (person_ids is not None and r.person_id not in person_ids):
        raise ReservationNotFound(details={"reservation_id": reservation_id})
    return r


def _usable(session: Session, reservation_id: str, person_id: str, at: datetime) -> FlashReservation:
    r = get_reservation(session, reservation_id, constituents(session, person_id))
    if r.status != "reserved":
        raise (ReservationExpired if r.status == "expired" else ReservationUsed)(
            details={"reservation_id": r.id, "status": r.status})
    if r.expires_at <= at:
        raise ReservationExpired(details={"reservation_id": r.id, "expires_at": r.expires_at.isoformat()})
    return r


def resolve(session: Session, reservation_id: str, person_id: str, at: datetime) -> specials.Special:
    """The special price an order (or a quote) gets with a reservation: only its owner, before it expires."""
    r = _usable(session, reservation_id, person_id, at)
    fs = rows.get_session(session, r.session_id)
    return specials.Special(sku_id=fs.sku_id, unit_price_fen=fs.price_fen, max_quantity=r.quantity,
                            source=f"{KIND}:{fs.id}")


def attach(session: Session, reservation_id: str, order_id: str, person_id: str, at: datetime) -> None:
    """The order's transaction claims the reservation: ``reserved -> ordered`` while unexpired, by its owner."""
    persons = constituents(session, person_id)
    if not affected(session.execute(update(FlashReservation).where(
            FlashReservation.id == reservation_id, FlashReservation.status == "reserved",
            FlashReservation.expires_at > at, FlashReservation.person_id.in_(persons),
    ).values(status="ordered", order_id=order_id))):
        _usable(session, reservation_id, person_id, at)  # raises why
        raise ReservationUsed(details={"reservation_id": reservation_id})


specials.register(KIND, resolve, attach)


# -- units coming back -----------------------------------------------------------------------------------------
def _give_back(session: Session, r: FlashReservation, quotas: Quotas) -> None:
    fs = rows.get_session(session, r.session_id)
    quotas.of(fs.counter).give_back(session, r)


def expire_due(session: Session, quotas: Quotas, now: datetime, limit: int = 500) -> int:
    """Reservations not ordered in time go back to the quota (each exactly once: ``reserved -> expired``)."""
    n = 0
    for rid in rows.expired_ids(session, now, limit):
        r = rows.reservation(session, rid)
        if r is not None and rows.move(session, rid, ["reserved"], "expired", now):
            _give_back(session, r, quotas)
            n += 1
    return n


def give_up(session: Session, reservation_id: str, person_ids: Sequence[str] | None, quotas: Quotas,
            now: datetime) -> FlashReservation:
    """The customer hands an unused reservation back."""
    r = get_reservation(session, reservation_id, person_ids)
    if not rows.move(session, r.id, ["reserved"], "released", now):
        raise ReservationUsed(details={"reservation_id": r.id, "status": r.status})
    _give_back(session, r, quotas)
    return get_reservation(session, reservation_id, None)


def order_paid(session: Session, order_id: str, quotas: Quotas, now: datetime) -> bool:
    r = rows.by_order(session, order_id)
    if r is None or not rows.move(session, r.id, ["ordered"], "sold", now):
        return False
    fs = rows.get_session(session, r.session_id)
    quotas.of(fs.counter).sold(session, r)
    return True


def order_cancelled(session: Session, order_id: str, quotas: Quotas, now: datetime) -> bool:
    """A cancelled order (customer, operator, unpaid timeout; paid but not shipped) gives its units back."""
    r = rows.by_order(session, order_id)
    if r is None or not rows.move(session, r.id, [*LIVE, "sold"], "released", now):
        return False
    _give_back(session, r, quotas)
    return True
