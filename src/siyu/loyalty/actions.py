"""Actions a member performs anywhere (share, review, login, order, check-in): counted once per source,
rewarded by the programme's rule within its daily cap, and counted towards quests."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.loyalty import growth, program, quests
from siyu.loyalty.members import local_day
from siyu.loyalty.models import Member, QuestAction
from siyu.loyalty.points import earn, lock


def rewarded_today(session: Session, m: Member, action: str, at: datetime) -> int:
    """Actions of this kind the member did on their local day of ``at`` (the one just recorded included)."""
    tz = ZoneInfo(m.timezone)
    day = local_day(at, m.timezone)
    start = datetime.combine(day, time(0), tz)
    return int(session.scalar(select(func.count()).select_from(QuestAction).where(
        QuestAction.member_id == m.id, QuestAction.action == action, QuestAction.at >= start,
        QuestAction.at < start + timedelta(days=1))) or 0)


def perform(session: Session, m: Member, action: str, channel: str, key: str, at: datetime,
            reward: bool = True) -> bool:
    """Record an action once per ``key``; reward it (rule and daily cap) and advance quests. False if
    this key was seen before. The member's row is locked first, so two consumers counting different
    actions of one member (an order and a share) run one after the other and the second sees the first's
    action when it checks the quests."""
    lock(session, m.id)
    counted = quests.count(session, m, action, channel, key, at)
    if not counted:
        return False
    prog = program.load(session)
    rule = prog.actions.get(action)
    if reward and rule is not None and (not rule.daily_cap or rewarded_today(session, m, action, at) <= rule.daily_cap):
        day = local_day(at, m.timezone)
        if rule.growth:
            growth.add(session, m.id, rule.growth, kind=action, key=f"{action}:{key}", day=day, now=at)
        if rule.points:
            earn(session, m.id, rule.points, key=f"{action}:{key}", source_kind=action, source_id=key[:128],
                 now=at, expiry_days=prog.points_expiry_days, reason=action, channel=channel)
    quests.evaluate(session, m, channel, at)
    return True
