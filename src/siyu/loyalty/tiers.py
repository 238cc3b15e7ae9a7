"""The end of an evaluation period: every member's tier is set from the growth value of the period that
ended, by the downgrade policy, in a few set-based statements (no per-member round trips), and the period
growth starts again from zero.

- ``never``: a member keeps the higher of their tier and the one the period earned;
- ``period_end``: the tier the period earned;
- ``one_step``: at most one tier lower than before.
Each change is recorded in ``tier_changes`` (reason ``period_end``); one ``loyalty.period_closed`` event
summarises the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, case, func, insert, literal, select, update
from sqlalchemy.orm import Session

from siyu.db import UTCDateTime
from siyu.loyalty import program
from siyu.loyalty.models import Member, TierChange
from siyu.loyalty.schemas import Downgrade, ProgramIn
from siyu.outbox.service import emit

PERIOD_TZ = "Asia/Shanghai"


def period_end(prog: ProgramIn, started: datetime) -> datetime:
    if prog.period.kind == "rolling_days":
        return started + timedelta(days=prog.period.days)
    local = started.astimezone(ZoneInfo(PERIOD_TZ))
    return datetime(local.year + 1, 1, 1, tzinfo=ZoneInfo(PERIOD_TZ))


@dataclass(frozen=True)
class Evaluation:
    members: int
    changed: int
    period_started_at: datetime


def evaluate(session: Session, now: datetime) -> Evaluation | None:
    """Close the period if it has ended (None otherwise)."""
    row = program.row(session)
    prog = program.load(session)
    end = period_end(prog, row.period_started_at)
    if now < end:
        return None
    return close_period(session, prog, end, now)


def close_period(session: Session, prog: ProgramIn, new_start: datetime, now: datetime) -> Evaluation:
    tiers = prog.tiers
    rank_of = case({t.code: i for i, t in enumerate(tiers)}, value=Member.tier, else_=0)
    target = case(*[(Member.period_growth >= t.threshold, i) for i, t in reversed(list(enumerate(tiers)))],
                  else_=0)
    if prog.downgrade is Downgrade.never:
        new_rank = case((rank_of >= target, rank_of), else_=target)
    elif prog.downgrade is Downgrade.period_end:
        new_rank = target
    else:
        new_rank = case((target >= rank_of - 1, target), else_=rank_of - 1)
    new_tier = case({i: t.code for i, t in enumerate(tiers)}, value=new_rank, else_=tiers[0].code)
    changed = Member.tier != new_tier
    n_changed = session.scalar(select(func.count()).select_from(Member).where(changed)) or 0
    session.execute(insert(TierChange).from_select(
        ["id", "member_id", "from_tier", "to_tier", "reason", "at"],
        select(_row_id(session), Member.id, Member.tier, new_tier, literal("period_end"),
               literal(now, type_=UTCDateTime())).where(changed)))
    session.execute(update(Member).where(changed).values(tier=new_tier, tier_since=now))
    session.execute(update(Member).values(period_growth=0))
    total = session.scalar(select(func.count()).select_from(Member)) or 0
    row = program.row(session)
    row.period_started_at = new_start
    session.flush()
    emit(session, "loyalty.period_closed", {"members": total, "changed": n_changed,
                                            "period_started_at": new_start.isoformat()}, at=now)
    return Evaluation(members=int(total), changed=int(n_changed), period_started_at=new_start)


def _row_id(session: Session) -> ColumnElement[str]:
    """A random 32-hex-digit id computed by the database, for set-based inserts."""
    if session.get_bind().dialect.name == "postgresql":
        return func.md5(func.concat(func.random().cast(String), Member.id))
    return func.lower(func.hex(func.randomblob(16)))
