"""Joining the programme and the member view every channel shows (one member per customer)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.db import upsert
from siyu.identity.anchors import constituents
from siyu.kit.ids import new_id
from siyu.loyalty import events, program
from siyu.loyalty.errors import NotAMember
from siyu.loyalty.models import CheckIn, Member, PointLot
from siyu.loyalty.points import earn
from siyu.loyalty.schemas import JoinRequest, MemberOut, TierView

SOON = timedelta(days=30)


def local_day(now: datetime, tz: str) -> date:
    """The member's calendar day at ``now`` (check-ins, daily caps, birthdays)."""
    return now.astimezone(ZoneInfo(tz)).date()


def find(session: Session, person_id: str) -> Member | None:
    """The member of a customer (of their current person, or of any person merged into it)."""
    persons = constituents(session, person_id)
    return session.scalar(select(Member).where(Member.person_id.in_(persons)).order_by(Member.joined_at).limit(1))


def get(session: Session, person_id: str) -> Member:
    m = find(session, person_id)
    if m is None:
        raise NotAMember(details={"person_id": person_id})
    return m


def join(session: Session, person_id: str, body: JoinRequest, now: datetime) -> tuple[Member, bool]:
    """Join once, from any channel; joining again answers the existing membership (consents are updated)."""
    existing = find(session, person_id)
    if existing is not None:
        if body.consents:
            existing.consents = {**existing.consents, **body.consents}
            session.flush()
        return existing, False
    prog = program.load(session)
    mid = new_id()
    inserted = session.execute(upsert(session, Member).values(
        id=mid, person_id=person_id, joined_at=now, joined_channel=body.channel.value, consents=body.consents,
        timezone=body.timezone, birthday=body.birthday, tier=prog.tiers[0].code, tier_since=now, growth=0,
        period_growth=0, points=0, pending_points=0, last_birthday_gift_year=None, updated_at=now,
    ).on_conflict_do_nothing().returning(Member.id)).first()
    m = get(session, person_id)
    if inserted is None:  # joined concurrently
        return m, False
    if prog.signup_points:
        earn(session, m.id, prog.signup_points, key="signup", source_kind="signup", source_id=m.id, now=now,
             expiry_days=prog.points_expiry_days, reason="welcome points", channel=body.channel.value)
    events.member_event(session, m, "loyalty.joined", body.channel.value, {"consents": body.consents}, now)
    return m, True


def view(session: Session, m: Member, now: datetime) -> MemberOut:
    ladder = program.ladder(session)
    tier = ladder.by_code(m.tier)
    nxt = ladder.next_after(m.tier)
    today = local_day(now, m.timezone)
    last = session.scalar(select(CheckIn).where(CheckIn.member_id == m.id).order_by(CheckIn.day.desc()).limit(1))
    streak = last.streak if last is not None and last.day >= today - timedelta(days=1) else 0
    soon = session.scalar(select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
        PointLot.member_id == m.id, PointLot.status == "available", PointLot.expires_at <= now + SOON))
    return MemberOut(
        id=m.id, person_id=m.person_id, joined_at=m.joined_at, joined_channel=m.joined_channel,
        consents=m.consents, timezone=m.timezone, birthday=m.birthday,
        tier=TierView(**tier.model_dump()), next_tier=TierView(**nxt.model_dump()) if nxt else None,
        growth=m.growth, period_growth=m.period_growth,
        growth_to_next_tier=max(nxt.threshold - m.period_growth, 0) if nxt else None,
        points=m.points, pending_points=m.pending_points, points_expiring_soon=int(soon or 0),
        checked_in_today=last is not None and last.day == today, streak=streak,
    )
