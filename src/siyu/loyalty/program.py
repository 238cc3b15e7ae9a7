"""The programme's configuration (tiers, rules) and the tier ladder arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.db import upsert
from siyu.kit.clock import utcnow
from siyu.loyalty.errors import InvalidProgram
from siyu.loyalty.models import Program
from siyu.loyalty.schemas import ProgramIn, TierIn, default_program


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
