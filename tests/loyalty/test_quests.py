"""Quests across channels, counted from actions anywhere, rewarded exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from siyu.loyalty import actions, checkin, quests
from siyu.loyalty.models import Member, PointEntry
from tests.conftest import Api
from tests.loyalty.test_time_and_tiers import new_member

GOALS = [{"action": "share", "channel": "miniprogram", "count": 3},
         {"action": "order", "channel": "web", "count": 1},
         {"action": "checkin", "channel": "app", "count": 7}]


def rewards(api: Api, member_id: str) -> int:
    with api.runtime.db.session() as s:
        return s.query(PointEntry).filter(PointEntry.member_id == member_id, PointEntry.key.like("quest:%")).count()


def test_share_order_and_checkins_within_30_days_rewarded_once(api: Api) -> None:
    start = datetime(2026, 5, 1, 2, tzinfo=UTC)
    with api.runtime.db.session() as s:
        quest = quests.create(s, "全渠道达人", GOALS, 30, 500, None, None)
        mid = new_member(s, at=start).id
    with api.runtime.db.session() as s:
        m = s.get(Member, mid)
        assert m is not None
        for n in range(3):
            actions.perform(s, m, "share", "miniprogram", f"share-{n}", start + timedelta(hours=n))
        actions.perform(s, m, "share", "web", "share-web", start)  # the wrong channel: not counted
        actions.perform(s, m, "order", "web", "order-1", start + timedelta(days=1))
    for day in range(7):
        assert rewards(api, mid) == 0
        with api.runtime.db.session() as s:
            m = s.get(Member, mid)
            assert m is not None
            checkin.check_in(s, m, "app" if day != 3 else "web", start + timedelta(days=day))
    assert rewards(api, mid) == 0  # one check-in was on the website
    with api.runtime.db.session() as s:
        m = s.get(Member, mid)
        assert m is not None
        checkin.check_in(s, m, "app", start + timedelta(days=7))
        assert quests.completed(s, mid, quest.id)
    assert rewards(api, mid) == 1
    with api.runtime.db.session() as s:  # more actions, the same share again: no second reward
        m = s.get(Member, mid)
        assert m is not None
        actions.perform(s, m, "share", "miniprogram", "share-0", start + timedelta(days=8))
        actions.perform(s, m, "order", "web", "order-2", start + timedelta(days=8))
    assert rewards(api, mid) == 1


def test_actions_outside_the_window_do_not_count(api: Api) -> None:
    start = datetime(2026, 5, 1, 2, tzinfo=UTC)
    with api.runtime.db.session() as s:
        quest = quests.create(s, "两次分享", [{"action": "share", "count": 2}], 30, 100, None, None)
        mid = new_member(s, at=start).id
    with api.runtime.db.session() as s:
        m = s.get(Member, mid)
        assert m is not None
        actions.perform(s, m, "share", "app", "a", start)
        actions.perform(s, m, "share", "app", "b", start + timedelta(days=31))
        assert not quests.completed(s, mid, quest.id)
        actions.perform(s, m, "share", "app", "c", start + timedelta(days=40))
        assert quests.completed(s, mid, quest.id)
