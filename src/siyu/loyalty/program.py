"""The programme's configuration (tiers, rules), the tier ladder arithmetic and the one rule for paying
with points (:func:`points_payment`, used by the pricing engine's dry run and checkout and by
``POST /loyalty/orders/{id}/points``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from math import gcd

from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.db import upsert
from siyu.kit.clock import utcnow
from siyu.loyalty.errors import InvalidProgram
from siyu.loyalty.models import Program
from siyu.loyalty.schemas import ProgramIn, TierIn, default_program
from siyu.loyalty.schemas import Redemption as RedemptionRule


@dataclass(frozen=True)
class Ladder:
    tiers: list[TierIn]

    def by_code(self, code: str) -> TierIn:
        for t in self.tiers:
            if t.code == code:
                return t
        return self.tiers[0]  # a tier removed from the ladder reads as the lowest

    def rank(self, code: str) -> int:
        for i, t in enumerate(self.tiers):
            if t.code == code:
                return i
        return 0

    def for_growth(self, growth: int) -> TierIn:
        best = self.tiers[0]
        for t in self.tiers:
            if growth >= t.threshold:
                best = t
        return best

    def next_after(self, code: str) -> TierIn | None:
        i = self.rank(code)
        return self.tiers[i + 1] if i + 1 < len(self.tiers) else None


def row(session: Session, now: datetime | None = None) -> Program:
    found = session.get(Program, 1)
    if found is None:
        now = now or utcnow()
        session.execute(upsert(session, Program).values(
            id=1, config=default_program().model_dump(mode="json"), period_started_at=now, updated_at=now,
        ).on_conflict_do_nothing())
        found = session.get(Program, 1)
        assert found is not None
    return found


def load(session: Session) -> ProgramIn:
    try:
        return ProgramIn.model_validate(row(session).config)
    except ValidationError as exc:  # a hand-edited row: refuse loudly rather than guess
        raise InvalidProgram(details={"errors": exc.errors(include_url=False)}) from exc


def save(session: Session, body: ProgramIn) -> Program:
    prog = row(session)
    prog.config = body.model_dump(mode="json")
    prog.updated_at = utcnow()
    session.flush()
    return prog


def ladder(session: Session) -> Ladder:
    return Ladder(load(session).tiers)


def points_cap_fen(rule: RedemptionRule, goods_fen: int) -> int:
    """What points may pay of an order at most: ``max_order_share_bp`` of its goods after the tier and coupon
    discounts. Shipping is excluded (points pay for goods, not for delivery)."""
    return max(goods_fen, 0) * rule.max_order_share_bp // 10000


def points_payment(rule: RedemptionRule, goods_fen: int, points: int, paid_fen: int = 0) -> tuple[int, int]:
    """The one rule for paying with points: ``(points used, fen they pay)`` for ``points`` offered on goods of
    ``goods_fen`` (after discounts) of which points paid ``paid_fen`` already. Points pay whole fen at the
    rate (rounded down to the nearest number of points that does), at most the cap less what points paid
    already; a result below ``min_points`` uses none. Never more points than offered. Callers that must not
    clamp (``POST /loyalty/orders/{id}/points``) refuse when the answer differs from what was asked."""
    room = max(points_cap_fen(rule, goods_fen) - paid_fen, 0)
    step = 100 // gcd(rule.points_per_yuan, 100)  # the fewest fen a whole number of points pays
    fen = min(max(points, 0) * 100 // rule.points_per_yuan, room) // step * step
    used = fen * rule.points_per_yuan // 100
    if used < rule.min_points:
        return 0, 0
    return used, fen
