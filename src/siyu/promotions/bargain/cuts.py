"""Helping a bargain: one cut per helper, from any channel, by anyone but the initiator (under any of their
identities), within the helper's daily limit; and what an order's cancellation or the clock do to it.

Concurrency. A cut first takes the bargain's row lock with a conditional UPDATE (``SET helpers =
helpers``: PostgreSQL holds the row until commit; SQLite has one writer at a time), then checks, under
that lock, the status, the expiry, the helper's identity and earlier cuts; then moves the bargain on by a
second conditional UPDATE (``status = 'open' AND helpers = <count read under the lock>``) taking the next
planned amount, and inserts the cut (UNIQUE (bargain, helper) and (bargain, seq)). Concurrent helpers
therefore cut one after another, each with the next planned amount, and the N-th lands exactly on the floor;
no cut is accepted after it. A helper's daily cuts take slots of UNIQUE (campaign, helper, day, day_slot):
the same helper cutting several bargains at once collides there, each cut moving on to the next free slot
(PostgreSQL makes the insert wait for the transaction holding a slot), and a cut that finds none left is
refused (its transaction, the bargain's change included, rolls back).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from siyu.db import affected, upsert
from siyu.identity.anchors import constituents, same_person
from siyu.kit.ids import new_id
from siyu.promotions.bargain.errors import (
    AlreadyHelped,
    BargainComplete,
    BargainExpired,
    BargainNotFound,
    HelpLimitReached,
    SelfHelpRefused,
)
from siyu.promotions.bargain.models import Bargain, BargainCut
from siyu.promotions.bargain.service import effective_status, get_bargain, get_campaign
from siyu.promotions.groupbuy.events import promo_event

TZ = ZoneInfo("Asia/Shanghai")


def cut(session: Session, bargain_id: str, helper: str, channel: str, now: datetime) -> BargainCut:
    """``helper`` (a current person) cuts the bargain by its next planned amount."""
    if not affected(session.execute(update(Bargain).where(Bargain.id == bargain_id)
                                    .values(helpers=Bargain.helpers))):
        raise BargainNotFound(details={"bargain_id": bargain_id})
    b = get_bargain(session, bargain_id)
    status = effective_status(b, now)
    if status == "expired":
        raise BargainExpired(details={"bargain_id": b.id})
    if status != "open":
        raise BargainComplete(details={"bargain_id": b.id, "status": status})
    if same_person(session, helper, b.initiator_person_id):
        raise SelfHelpRefused(details={"bargain_id": b.id})
    helpers = constituents(session, helper)
    if session.scalar(select(BargainCut.id).where(BargainCut.bargain_id == b.id,
                                                  BargainCut.helper_person_id.in_(helpers)).limit(1)):
        raise AlreadyHelped(details={"bargain_id": b.id})
    c = get_campaign(session, b.campaign_id)
    day = now.astimezone(TZ).date().isoformat()
    used = int(session.scalar(select(func.count()).select_from(BargainCut).where(
        BargainCut.campaign_id == c.id, BargainCut.helper_person_id.in_(helpers), BargainCut.day == day)) or 0)
    if used >= c.helper_daily_limit:
        raise HelpLimitReached(details={"limit": c.helper_daily_limit, "day": day})
    seq = b.helpers + 1
    amount = int(b.plan[seq - 1])
    after = b.current_price_fen - amount
    reached = seq == b.helpers_needed
    if not affected(session.execute(update(Bargain).where(
            Bargain.id == b.id, Bargain.status == "open", Bargain.helpers == b.helpers, Bargain.expires_at > now)
            .values(helpers=seq, current_price_fen=after, status="reached" if reached else "open",
                    reached_at=now if reached else None))):
        raise BargainComplete(details={"bargain_id": b.id})  # unreachable while the lock holds: the guard
    cid = new_id()
    for day_slot in range(used + 1, c.helper_daily_limit + 1):  # a concurrent cut of the helper took a slot:
        if session.execute(upsert(session, BargainCut).values(  # the next one, while there is one
                id=cid, bargain_id=b.id, campaign_id=c.id, helper_person_id=helper, seq=seq, amount_fen=amount,
                price_after_fen=after, channel=channel, day=day, day_slot=day_slot, created_at=now,
        ).on_conflict_do_nothing().returning(BargainCut.id)).first() is not None:
            break
    else:
        raise HelpLimitReached(details={"limit": c.helper_daily_limit, "day": day})
    promo_event(session, "bargain.helped", person_id=helper, channel=channel, at=now,
                data={"bargain_id": b.id, "campaign_id": c.id, "initiator_person_id": b.initiator_person_id,
                      "seq": seq, "amount_fen": amount, "price_after_fen": after,
                      "helpers_left": b.helpers_needed - seq})
    if reached:
        promo_event(session, "bargain.reached", person_id=b.initiator_person_id, channel=b.channel, at=now,
                    data={"bargain_id": b.id, "campaign_id": c.id, "sku_id": c.sku_id,
                          "floor_price_fen": after, "helpers": seq})
    found = session.get(BargainCut, cid)
    assert found is not None
    return found


def release(session: Session, order_id: str) -> int:
    """The order holding a bargain was cancelled: the bargain can be used again (until it expires)."""
    return affected(session.execute(update(Bargain).where(Bargain.order_id == order_id, Bargain.status == "used")
                                    .values(status=case((Bargain.current_price_fen <= Bargain.floor_price_fen,
                                                         "reached"), else_="open"),
                                            order_id=None, used_at=None)))


def expire_due(session: Session, now: datetime) -> int:
    """Bargains past their expiry that no order holds are expired."""
    return affected(session.execute(update(Bargain).where(Bargain.status.in_(["open", "reached"]),
                                                          Bargain.expires_at <= now).values(status="expired")))
