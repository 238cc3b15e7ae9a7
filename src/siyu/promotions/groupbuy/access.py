"""Who a promotion call is for: a member token acts for its own customer; an operator or a brand server
holding ``promotions:write`` names the customer."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.auth.errors import NotYourData, ScopeRequired
from siyu.auth.schemas import Role, Scope
from siyu.auth.service import Principal
from siyu.identity.anchors import same_person
from siyu.identity.service import current


def is_member(p: Principal) -> bool:
    return p.role is Role.member and p.person_id is not None


def acting_person(session: Session, p: Principal, person_id: str | None) -> str:
    """The customer this call acts for (their current person)."""
    if is_member(p):
        assert p.person_id is not None
        if person_id is not None and not same_person(session, person_id, p.person_id):
            raise NotYourData()
        return current(session, p.person_id)
    if not p.has(Scope.promotions_write):
        raise ScopeRequired(details={"scope": Scope.promotions_write.value})
    if person_id is None:
        raise NotYourData("Say whose call this is: person_id.")
    return current(session, person_id)


def optional_person(session: Session, p: Principal, person_id: str | None) -> str | None:
    """Like :func:`acting_person`, but a server may act for nobody in particular (an anonymous visitor)."""
    if not is_member(p) and person_id is None:
        if not p.has(Scope.promotions_write):
            raise ScopeRequired(details={"scope": Scope.promotions_write.value})
        return None
    return acting_person(session, p, person_id)


def require_writer(p: Principal) -> None:
    if is_member(p) or not p.has(Scope.promotions_write):
        raise ScopeRequired(details={"scope": Scope.promotions_write.value})
