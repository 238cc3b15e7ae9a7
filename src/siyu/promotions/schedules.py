"""Time-based prices and presale early access (data the pricing engine reads)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.catalog import service as catalog
from siyu.db import upsert
from siyu.kit.ids import new_id
from siyu.loyalty import program
from siyu.promotions.errors import InvalidTemplate
from siyu.promotions.models import EarlyAccess, PriceSchedule
from siyu.promotions.schemas import EarlyAccessIn, ScheduleIn


def add_schedule(session: Session, body: ScheduleIn) -> PriceSchedule:
    catalog.get_sku(session, body.sku_id)
    if body.ends_at is not None and body.ends_at <= body.starts_at:
        raise InvalidTemplate("ends_at must be after starts_at.")
    row = PriceSchedule(id=new_id(), sku_id=body.sku_id, channel=body.channel.value, starts_at=body.starts_at,
                        ends_at=body.ends_at, price_fen=body.price_fen, label=body.label)
    session.add(row)
    session.flush()
    return row


def schedules_of(session: Session, sku_id: str) -> Sequence[PriceSchedule]:
    return session.scalars(select(PriceSchedule).where(PriceSchedule.sku_id == sku_id)
                           .order_by(PriceSchedule.channel, PriceSchedule.starts_at)).all()


def set_early_access(session: Session, body: EarlyAccessIn) -> EarlyAccess:
    catalog.get_sku(session, body.sku_id)
    if body.tier not in {t.code for t in program.load(session).tiers}:
        raise InvalidTemplate("No tier has that code.", details={"tier": body.tier})
    session.execute(upsert(session, EarlyAccess).values(
        id=new_id(), sku_id=body.sku_id, channel=body.channel.value, tier=body.tier, opens_at=body.opens_at,
    ).on_conflict_do_update(index_elements=["sku_id", "channel", "tier"], set_={"opens_at": body.opens_at}))
    row = session.scalar(select(EarlyAccess).where(EarlyAccess.sku_id == body.sku_id,
                                                   EarlyAccess.channel == body.channel.value,
                                                   EarlyAccess.tier == body.tier))
    assert row is not None
    return row
