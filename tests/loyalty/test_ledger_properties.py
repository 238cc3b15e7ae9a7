"""A stateful property test of the points ledger: random earn, spend, expire, refund, adjust and check-in
sequences across channels and members keep every invariant, on SQLite and PostgreSQL.

Invariants after every step, per member:
- the balance equals the sum of available lots' remaining points and the sum of the ledger's deltas,
  and is never negative; the pending balance likewise for pending lots;
- no lot has remaining points below zero or above its amount;
- no lot was spent from at or after its expiry, or beyond its amount;
- a spend succeeds exactly when the unexpired available points cover it.
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import func, select, text

from siyu.db import Database
from siyu.identity.anchors import ensure_person
from siyu.kit.ids import new_id
from siyu.loyalty import checkin, points
from siyu.loyalty.errors import AlreadyCheckedIn, InsufficientPoints
from siyu.loyalty.models import Member, PointEntry, PointLot, SpendPart
from siyu.migrate import upgrade
from tests.support import postgres_database

CHANNELS = st.sampled_from(["miniprogram", "web", "app"])
EXPIRY = 30  # days: short, so expiry happens often
_keys = itertools.count()


def key(prefix: str) -> str:
    return f"{prefix}:{next(_keys)}"


class Ledger(RuleBasedStateMachine):
    db: Database

    @initialize()
    def setup(self) -> None:
        self.now = datetime(2026, 1, 1, 1, tzinfo=UTC)
        self.members: list[str] = []
        self.orders: list[tuple[str, str]] = []  # (member, order id) with points earned
        with self.db.session() as s:
            s.execute(text("DELETE FROM point_spend_parts"))
            for table in ("point_ledger", "point_lots", "checkins", "growth_ledger", "quest_actions", "members"):
                s.execute(text(f"DELETE FROM {table}"))
            for tz in ["Asia/Shanghai", "America/Los_Angeles"]:
                mid = new_id()
                person = ensure_person(s, "user_id", f"member-{mid}")
                s.add(Member(id=mid, person_id=person, joined_at=self.now, joined_channel="app", consents={},
                             timezone=tz, birthday=None, tier="regular", tier_since=self.now, growth=0,
                             period_growth=0, points=0, pending_points=0, updated_at=self.now))
                self.members.append(mid)

    def available(self, member: str) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
                PointLot.member_id == member, PointLot.status == "available", PointLot.expires_at > self.now)) or 0)

    @rule(m=st.integers(0, 1), amount=st.integers(1, 500), channel=CHANNELS)
    def earn(self, m: int, amount: int, channel: str) -> None:
        with self.db.session() as s:
            points.earn(s, self.members[m], amount, key=key("earn"), source_kind="event", source_id=key("ev"),
                        now=self.now, expiry_days=EXPIRY, channel=channel)

    @rule(m=st.integers(0, 1), amount=st.integers(1, 800), released=st.booleans())
    def earn_order(self, m: int, amount: int, released: bool) -> None:
        order = new_id()
        with self.db.session() as s:
            points.earn(s, self.members[m], amount, key=f"order:{order}", source_kind="order", source_id=order,
                        now=self.now, expiry_days=EXPIRY, pending=True)
            if released:
                for lot in points.pending_lots_of(s, "order", order):
                    points.release(s, lot.id, self.now, EXPIRY)
        self.orders.append((self.members[m], order))

    @rule(m=st.integers(0, 1), amount=st.integers(1, 900), channel=CHANNELS)
    def spend(self, m: int, amount: int, channel: str) -> None:
        member = self.members[m]
        enough = self.available(member) >= amount
        try:
            with self.db.session() as s:
                points.spend(s, member, amount, key=key("spend"), now=self.now, channel=channel)
            assert enough, "a spend beyond the unexpired balance succeeded"
        except InsufficientPoints:
            assert not enough, "a spend the balance covered was refused"

    @rule(days=st.integers(0, 45), hours=st.integers(0, 23))
    def advance(self, days: int, hours: int) -> None:
        self.now += timedelta(days=days, hours=hours)
        with self.db.session() as s:
            for member in points.members_with_due_expiry(s, self.now):
                points.expire_due(s, points.lock(s, member), self.now)
            for lot_id in points.due_for_release(s, self.now):
                points.release(s, lot_id, self.now, EXPIRY)

    @precondition(lambda self: bool(self.orders))
    @rule(i=st.integers(0, 10_000), share=st.integers(1, 100))
    def refund(self, i: int, share: int) -> None:
        member, order = self.orders[i % len(self.orders)]
        with self.db.session() as s:
            earned = points.earned_from(s, member, "order", order)
            due = earned * share // 100 - points.cancelled_from(s, member, order)
            points.cancel_source(s, member, "order", order, due, key=key("refund"), now=self.now, reason="refund")

    @rule(m=st.integers(0, 1), amount=st.integers(-300, 300).filter(bool))
    def adjust(self, m: int, amount: int) -> None:
        member = self.members[m]
        enough = self.available(member) >= -amount
        try:
            with self.db.session() as s:
                points.adjust(s, member, amount, key=key("adjust"), now=self.now, reason="test", actor="t",
                              expiry_days=EXPIRY)
            assert amount > 0 or enough
        except InsufficientPoints:
            assert amount < 0 and not enough

    @rule(m=st.integers(0, 1), channel=CHANNELS)
    def check_in(self, m: int, channel: str) -> None:
        with self.db.session() as s, contextlib.suppress(AlreadyCheckedIn):
            member = s.get(Member, self.members[m])
            assert member is not None
            checkin.check_in(s, member, channel, self.now)

    @rule(m=st.integers(0, 1))
    def replay_a_spend(self, m: int) -> None:
        """The same key again (a retried request) changes nothing."""
        member = self.members[m]
        with self.db.session() as s:
            last = s.scalar(select(PointEntry).where(PointEntry.member_id == member, PointEntry.kind == "spend")
                            .order_by(PointEntry.id.desc()).limit(1))
            if last is None:
                return
            before = s.get(Member, member).points  # type: ignore[union-attr]
            points.spend(s, member, -last.delta, key=last.key, now=self.now)
            assert s.get(Member, member, populate_existing=True).points == before  # type: ignore[union-attr]

    @invariant()
    def balances_add_up(self) -> None:
        if not getattr(self, "members", None):
            return
        with self.db.session() as s:
            for member in self.members:
                m = s.get(Member, member)
                assert m is not None and m.points >= 0 and m.pending_points >= 0
                lots = s.scalars(select(PointLot).where(PointLot.member_id == member)).all()
                assert all(0 <= lot.remaining <= lot.amount for lot in lots)
                assert m.points == sum(lot.remaining for lot in lots if lot.status == "available")
                assert m.pending_points == sum(lot.remaining for lot in lots if lot.status == "pending")
                deltas = s.execute(select(func.coalesce(func.sum(PointEntry.delta), 0),
                                          func.coalesce(func.sum(PointEntry.pending_delta), 0))
                                   .where(PointEntry.member_id == member)).one()
                assert (m.points, m.pending_points) == (int(deltas[0]), int(deltas[1]))
                spent = s.execute(select(SpendPart.lot_id, SpendPart.amount, PointEntry.at)
                                  .join(PointEntry, PointEntry.id == SpendPart.entry_id)
                                  .where(PointEntry.member_id == member)).all()
                by_lot = {lot.id: lot for lot in lots}
                taken: dict[str, int] = {}
                for lot_id, amount, at in spent:
                    assert at < by_lot[lot_id].expires_at, "spent at or after the lot's expiry"
                    taken[lot_id] = taken.get(lot_id, 0) + amount
                assert all(n <= by_lot[lot_id].amount for lot_id, n in taken.items())


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.server)])
def test_random_ledger_sequences_keep_every_invariant(backend: str) -> None:
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{Path(stack.enter_context(tempfile.TemporaryDirectory())) / 'ops.sqlite3'}"
        else:
            url = stack.enter_context(postgres_database())
        upgrade(url)
        db = Database(url)
        stack.callback(db.dispose)
        Ledger.db = db
        machine = Ledger.TestCase
        machine.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
        machine().runTest()
