"""Growth value (成长值): earned from spending and actions, never spent; it decides the tier.

Upgrades are immediate: when the period's growth value reaches a higher tier's threshold, the member moves
up in the same transaction. Downgrades happen only at the end of an evaluation period (``tiers.py``).
Daily caps count the member's entries of an action on their local day, under the member lock.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.kit.ids import new_id
from siyu.loyalty import events, program
from siyu.loyalty.models import GrowthEntry, Member, TierChange
from siyu.loyalty.points import lock


def count_today(session: Session, member_id: str, kind: str, day: date) -> int:
    return int(session.scalar(select(func.count()).select_from(GrowthEntry).where(
        GrowthEntry.member_id == member_id, GrowthEntry.kind == kind, GrowthEntry.day == day)) or 0)


def add(session: Session, member_id: str, amount: int, *, kind: str, key: str, day: date, now: datetime) -> bool:
    """Add (or, negative, take back) growth value once per key; upgrades the tier when it is reached.
    Returns False if the key was seen before. The period value never goes below zero."""
    m = lock(session, member_id)
    if session.scalar(select(GrowthEntry.id).where(GrowthEntry.member_id == member_id,
                                                   GrowthEntry.key == key)) is not None:
        return False
    session.add(GrowthEntry(id=new_id(), member_id=member_id, key=key[:200], kind=kind, delta=amount, day=day,
                            at=now))
    if amount:
        session.execute(update(Member).where(Member.id == member_id).values(
            growth=_at_least_zero(session, Member.growth + amount),
            period_growth=_at_least_zero(session, Member.period_growth + amount)))
        session.refresh(m)
    session.flush()
    if amount > 0:
        upgrade(session, m, now)
    return True


def _at_least_zero(session: Session, expr: Any) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return func.max(expr, 0)
    return func.greatest(expr, 0)


def upgrade(session: Session, m: Member, now: datetime) -> None:
    ladder = program.ladder(session)
    target = ladder.for_growth(m.period_growth)
    if ladder.rank(target.code) > ladder.rank(m.tier):
        change_tier(session, m, target.code, "upgrade", now)


def change_tier(session: Session, m: Member, to: str, reason: str, now: datetime) -> None:
    before = m.tier
    m.tier = to
    m.tier_since = now
    session.add(TierChange(id=new_id(), member_id=m.id, from_tier=before, to_tier=to, reason=reason, at=now))
    session.flush()
    events.tier_changed(session, m, before, reason, now)
