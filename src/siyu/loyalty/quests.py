"""Quests: composite goals across channels ("share 3 times in the mini-program + 1 website order + 7 APP
check-ins within 30 days"), counted from actions wherever they come from (tracked events, order events,
check-ins), rewarded once.

Each counted action is stored once per source (``quest_actions``: UNIQUE (member, key)), so a redelivered
event counts once. A quest is complete when, for every goal, the actions inside one window ending at the
latest action reach the goal's count; the (quest, member) primary key of ``quest_completions`` and the
ledger key ``quest:<id>`` make the reward exactly-once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.db import get_or_raise, upsert
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id
from siyu.loyalty import events, program
from siyu.loyalty.errors import QuestNotFound
from siyu.loyalty.models import Member, Quest, QuestAction, QuestCompletion
from siyu.loyalty.points import earn


def create(session: Session, name: str, goals: list[dict[str, Any]], window_days: int, reward_points: int,
           starts_at: datetime | None, ends_at: datetime | None) -> Quest:
    q = Quest(id=new_id(), name=name, goals=goals, window_days=window_days, reward_points=reward_points,
              starts_at=starts_at, ends_at=ends_at, active=True, created_at=utcnow())
    session.add(q)
    session.flush()
    return q


def get(session: Session, quest_id: str) -> Quest:
    return get_or_raise(session, Quest, quest_id, QuestNotFound, "quest_id")


def active(session: Session, at: datetime) -> Sequence[Quest]:
    return [q for q in session.scalars(select(Quest).where(Quest.active.is_(True)).order_by(Quest.created_at))
            if (q.starts_at is None or q.starts_at <= at) and (q.ends_at is None or at < q.ends_at)]


def _actions(session: Session, member_id: str, since: datetime, until: datetime) -> list[tuple[str, str, datetime]]:
    rows = session.execute(select(QuestAction.action, QuestAction.channel, QuestAction.at).where(
        QuestAction.member_id == member_id, QuestAction.at > since, QuestAction.at <= until)).all()
    return [(r[0], r[1], r[2]) for r in rows]


def _tally(goals: list[dict[str, Any]], acts: list[tuple[str, str, datetime]], since: datetime,
           until: datetime) -> list[int]:
    return [sum(1 for a, ch, t in acts if a == g["action"] and (not g.get("channel") or ch == g["channel"])
                and since < t <= until) for g in goals]


def progress(session: Session, member_id: str, quest: Quest, at: datetime) -> list[dict[str, Any]]:
    """Each goal's count in the window that ends at ``at``."""
    since = at - timedelta(days=quest.window_days)
    counts = _tally(quest.goals, _actions(session, member_id, since, at), since, at)
    return [{**g, "done": min(n, int(g["count"]))} for g, n in zip(quest.goals, counts, strict=True)]


def met(session: Session, member_id: str, quest: Quest, around: datetime) -> bool:
    """Whether some window of the quest's length, ending at one of the member's actions near ``around``,
    holds every goal. Actions may be counted out of time order (a tracked share handled after a later
    order), so every window that the newest action could complete is tried, not only the one ending at
    the action just counted."""
    window = timedelta(days=quest.window_days)
    acts = _actions(session, member_id, around - 2 * window, around + window)
    for end in sorted({t for _, _, t in acts if around - window < t <= around + window}):
        counts = _tally(quest.goals, acts, end - window, end)
        if all(n >= int(g["count"]) for g, n in zip(quest.goals, counts, strict=True)):
            return True
    return False


def completed(session: Session, member_id: str, quest_id: str) -> bool:
    return session.get(QuestCompletion, (quest_id, member_id)) is not None


def count(session: Session, m: Member, action: str, channel: str, key: str, at: datetime) -> bool:
    """Store one action (once per key); False if it was stored before."""
    inserted = session.execute(upsert(session, QuestAction).values(
        id=new_id(), member_id=m.id, key=f"{action}:{key}"[:200], action=action, channel=channel, at=at,
    ).on_conflict_do_nothing().returning(QuestAction.id)).first()
    return inserted is not None


def evaluate(session: Session, m: Member, channel: str, at: datetime) -> list[str]:
    """Reward every active quest the member has now completed; returns those quests' ids."""
    done = []
    for quest in active(session, at):
        if completed(session, m.id, quest.id):
            continue
        if not met(session, m.id, quest, at):
            continue
        won = session.execute(upsert(session, QuestCompletion).values(
            quest_id=quest.id, member_id=m.id, completed_at=at, entry_id=None,
        ).on_conflict_do_nothing().returning(QuestCompletion.quest_id)).first()
        if won is None:
            continue
        prog = program.load(session)
        entry = earn(session, m.id, quest.reward_points, key=f"quest:{quest.id}", source_kind="quest",
                     source_id=quest.id, now=at, expiry_days=prog.points_expiry_days,
                     reason=f"quest: {quest.name}", channel=channel)
        completion = session.get(QuestCompletion, (quest.id, m.id))
        assert completion is not None
        completion.entry_id = entry.id
        events.member_event(session, m, "loyalty.quest_completed", channel,
                            {"quest_id": quest.id, "quest": quest.name, "points": quest.reward_points}, at)
        done.append(quest.id)
    return done
