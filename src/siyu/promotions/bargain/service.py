"""Bargain campaigns and bargains: starting one (its cuts planned at once, ``plan.py``), and buying with it
(registered with ``promotions.specials`` as ``bargain``: the initiator's cart gets the bargain's price,
one unit, and the order marks the bargain used)."""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.catalog import service as catalog
from siyu.db import affected, get_or_raise, upsert
from siyu.identity.anchors import constituents, same_person
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id
from siyu.orders import repository as orders
from siyu.promotions import specials
from siyu.promotions.bargain.errors import (
    BargainExpired,
    BargainLimitReached,
    BargainNotFound,
    BargainNotReached,
    BargainUsed,
    CampaignNotFound,
    CampaignNotLive,
    InvalidCampaign,
    NotYourBargain,
    WrongChannel,
)
from siyu.promotions.bargain.models import Bargain, BargainCampaign, BargainCut
from siyu.promotions.bargain.plan import feasible, split
from siyu.promotions.bargain.schemas import CampaignIn
from siyu.promotions.groupbuy.events import promo_event
from siyu.promotions.specials import Special

KIND = "bargain"


# -- campaigns ----------------------------------------------------------------------------------------------
def _listing_price(session: Session, sku_id: str, channels: Sequence[str]) -> int:
    prices = [ln.price_fen for ln in catalog.listings_of(session, [sku_id])[sku_id]
              if not channels or ln.channel in channels]
    if not prices:
        raise InvalidCampaign("The SKU has no listing in the campaign's channels; give start_price_fen.")
    return min(prices)


def create_campaign(session: Session, body: CampaignIn, now: datetime | None = None) -> BargainCampaign:
    now = now or utcnow()
    catalog.get_sku(session, body.sku_id)
    channels = [c.value for c in body.channels]
    start = body.start_price_fen or _listing_price(session, body.sku_id, channels)
    if start <= body.floor_price_fen or not feasible(start - body.floor_price_fen, body.helpers_needed,
                                                     body.min_cut_fen, body.max_cut_fen):
        raise InvalidCampaign("helpers_needed cuts within [min_cut_fen, max_cut_fen] must add up to the start "
                              "price minus the floor price.", details={"start_price_fen": start})
    c = BargainCampaign(id=new_id(), created_at=now, active=True, start_price_fen=start, channels=channels,
                        starts_at=body.starts_at or now,
                        **body.model_dump(exclude={"start_price_fen", "channels", "starts_at"}))
    session.add(c)
    session.flush()
    return c


def get_campaign(session: Session, campaign_id: str) -> BargainCampaign:
    return get_or_raise(session, BargainCampaign, campaign_id, CampaignNotFound, "campaign_id")


def campaigns(session: Session, now: datetime, live_only: bool) -> Sequence[BargainCampaign]:
    q = select(BargainCampaign).order_by(BargainCampaign.created_at.desc()).limit(500)
    if live_only:
        q = q.where(BargainCampaign.active.is_(True), BargainCampaign.starts_at <= now,
                    BargainCampaign.ends_at.is_(None) | (BargainCampaign.ends_at > now))
    return session.scalars(q).all()


# -- bargains -----------------------------------------------------------------------------------------------
def get_bargain(session: Session, bargain_id: str) -> Bargain:
    return get_or_raise(session, Bargain, bargain_id, BargainNotFound, "bargain_id", fresh=True)


def bargains_of(session: Session, persons: Sequence[str], limit: int = 100) -> Sequence[Bargain]:
    return session.scalars(select(Bargain).where(Bargain.initiator_person_id.in_(persons))
                           .order_by(Bargain.id.desc()).limit(limit)).all()


def cuts_of(session: Session, bargain_id: str) -> Sequence[BargainCut]:
    return session.scalars(select(BargainCut).where(BargainCut.bargain_id == bargain_id)
                           .order_by(BargainCut.seq)).all()


def start(session: Session, campaign_id: str, person_id: str, channel: str, now: datetime) -> Bargain:
    """Start a bargain: its cuts are planned now (``plan.split`` with a fresh seed), so the last required
    helper lands exactly on the floor. Within ``per_member_limit``: each of a customer's bargains in the
    campaign takes a free slot of UNIQUE (campaign, initiator, slot); a concurrent start that lost a slot
    tries the next free one, and is refused when none is left."""
    c = get_campaign(session, campaign_id)
    if not c.active or now < c.starts_at or (c.ends_at is not None and now >= c.ends_at):
        raise CampaignNotLive(details={"campaign_id": campaign_id})
    if c.channels and channel not in c.channels:
        raise WrongChannel(details={"channel": channel, "channels": c.channels})
    taken = set(session.scalars(select(Bargain.slot).where(
        Bargain.campaign_id == c.id, Bargain.initiator_person_id.in_(constituents(session, person_id)))))
    seed = secrets.randbits(63)
    plan = split(c.start_price_fen - c.floor_price_fen, c.helpers_needed, c.min_cut_fen, c.max_cut_fen,
                 random.Random(seed))
    bid = new_id()
    for slot in (n for n in range(1, c.per_member_limit + 1) if n not in taken):
        if session.execute(upsert(session, Bargain).values(
                id=bid, campaign_id=c.id, initiator_person_id=person_id, slot=slot, channel=channel,
                start_price_fen=c.start_price_fen, floor_price_fen=c.floor_price_fen,
                current_price_fen=c.start_price_fen, helpers=0, helpers_needed=c.helpers_needed, plan=plan,
                seed=seed, status="open", expires_at=now + timedelta(minutes=c.duration_minutes), created_at=now,
        ).on_conflict_do_nothing().returning(Bargain.id)).first() is not None:
            break
    else:
        raise BargainLimitReached(details={"limit": c.per_member_limit})
    promo_event(session, "bargain.started", person_id=person_id, channel=channel, at=now,
                data={"bargain_id": bid, "campaign_id": c.id, "sku_id": c.sku_id,
                      "start_price_fen": c.start_price_fen, "floor_price_fen": c.floor_price_fen,
                      "helpers_needed": c.helpers_needed})
    return get_bargain(session, bid)


def effective_status(b: Bargain, now: datetime) -> str:
    return "expired" if b.status in ("open", "reached") and b.expires_at <= now else b.status


# -- buying with it -----------------------------------------------------------------------------------------
def _buyable(c: BargainCampaign) -> tuple[str, ...]:
    return ("reached", "open") if c.buy_before_floor else ("reached",)


def resolve(session: Session, bargain_id: str, person_id: str, at: datetime) -> Special:
    b = get_bargain(session, bargain_id)
    if not same_person(session, b.initiator_person_id, person_id):
        raise NotYourBargain(details={"bargain_id": bargain_id})
    c = get_campaign(session, b.campaign_id)
    status = effective_status(b, at)
    if status == "used":
        raise BargainUsed(details={"bargain_id": b.id, "order_id": b.order_id})
    if status == "expired":
        raise BargainExpired(details={"bargain_id": b.id})
    if status not in _buyable(c):
        raise BargainNotReached(details={"bargain_id": b.id, "helpers_left": b.helpers_needed - b.helpers})
    return Special(sku_id=c.sku_id, unit_price_fen=b.current_price_fen, max_quantity=1, source=f"bargain:{b.id}")


def attach(session: Session, bargain_id: str, order_id: str, person_id: str, at: datetime) -> None:
    """The order uses the bargain: ``reached -> used`` by one conditional UPDATE, so of two concurrent
    orders only one gets the price (the other's order is not created)."""
    b = get_bargain(session, bargain_id)
    c = get_campaign(session, b.campaign_id)
    channel = orders.get(session, order_id).channel
    if c.channels and channel not in c.channels:
        raise WrongChannel(details={"channel": channel, "channels": c.channels})
    if not affected(session.execute(update(Bargain).where(
            Bargain.id == bargain_id, Bargain.status.in_(_buyable(c)), Bargain.expires_at > at)
            .values(status="used", order_id=order_id, used_at=at))):
        raise BargainUsed(details={"bargain_id": bargain_id})


specials.register(KIND, resolve, attach)
