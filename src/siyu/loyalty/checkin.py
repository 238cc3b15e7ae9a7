"""Daily check-in (签到): one per member per local day, a streak that resets after a missed day, and the
reward of the streak's day in the configured cycle.

The (member, day) primary key makes a second check-in on the same day impossible whatever the race: the
losing transaction's insert conflicts and it answers "already checked in" without a reward (its points,
keyed by the same day, are refused by the ledger's unique key too).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.db import upsert
from siyu.loyalty import actions, events, growth, program
from siyu.loyalty.errors import AlreadyCheckedIn
from siyu.loyalty.members import local_day
from siyu.loyalty.models import CheckIn, Member
from siyu.loyalty.points import earn, lock
from siyu.loyalty.schemas import CheckInOut


def check_in(session: Session, member: Member, channel: str, now: datetime) -> CheckInOut:
    m = lock(session, member.id)
    prog = program.load(session)
    today = local_day(now, m.timezone)
    yesterday = session.scalar(select(CheckIn.streak).where(CheckIn.member_id == m.id,
                                                             CheckIn.day == today - timedelta(days=1)))
    streak = (yesterday or 0) + 1
    cycle_day = (streak - 1) % len(prog.checkin_cycle) + 1
    reward = prog.checkin_cycle[cycle_day - 1]
    inserted = session.execute(upsert(session, CheckIn).values(
        member_id=m.id, day=today, streak=streak, points=reward, channel=channel, at=now,
    ).on_conflict_do_nothing().returning(CheckIn.day)).first()
    if inserted is None:
        raise AlreadyCheckedIn(details={"day": today.isoformat()})
    key = f"checkin:{today.isoformat()}"
    if reward:
        earn(session, m.id, reward, key=key, source_kind="checkin", source_id=f"{m.id}:{today}", now=now,
             expiry_days=prog.points_expiry_days, reason=f"check-in day {cycle_day}", channel=channel)
    if prog.checkin_growth:
        growth.add(session, m.id, prog.checkin_growth, kind="checkin", key=key, day=today, now=now)
    actions.perform(session, m, "checkin", channel, key, now, reward=False)
    events.member_event(session, m, "loyalty.checked_in", channel,
                        {"day": today.isoformat(), "streak": streak, "points": reward}, now)
    session.refresh(m)
    return CheckInOut(day=today, streak=streak, points=reward, cycle_day=cycle_day, balance=m.points)
