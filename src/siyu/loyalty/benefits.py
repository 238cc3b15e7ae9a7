"""What a customer's membership means elsewhere (orders, the catalog's tier gates): read by other
domains through this module only."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from siyu.loyalty import members, program


@dataclass(frozen=True)
class MemberBenefits:
    member_id: str | None
    tier: str | None
    allowed_tiers: frozenset[str]  # tier gates this customer passes (their tier and every lower one)
    discount_bp: int
    free_shipping: bool


NONE = MemberBenefits(member_id=None, tier=None, allowed_tiers=frozenset(), discount_bp=0, free_shipping=False)


def for_person(session: Session, person_id: str) -> MemberBenefits:
    m = members.find(session, person_id)
    if m is None:
        return NONE
    ladder = program.ladder(session)
    rank = ladder.rank(m.tier)
    tier = ladder.by_code(m.tier)
    return MemberBenefits(member_id=m.id, tier=m.tier,
                          allowed_tiers=frozenset(t.code for t in ladder.tiers[:rank + 1]),
                          discount_bp=tier.benefits.discount_bp, free_shipping=tier.benefits.free_shipping)
