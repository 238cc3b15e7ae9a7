"""Whose loyalty account a call is about: a member token's own, or (with the loyalty scopes) anyone's."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.auth.errors import NotYourData, ScopeRequired
from siyu.auth.schemas import Role, Scope
from siyu.auth.service import Principal
from siyu.identity.anchors import same_person
from siyu.identity.service import current
from siyu.loyalty import members
from siyu.loyalty.models import Member


def person_for(session: Session, p: Principal, person_id: str | None, write: bool) -> str:
    """The person the call is about: a member's own (a person id given must be theirs), or ``person_id``
    for a caller with ``loyalty:read`` / ``loyalty:write``."""
    if p.role is Role.member and p.person_id is not None:
        if person_id is not None and not same_person(session, person_id, p.person_id):
            raise NotYourData()
        return current(session, p.person_id)
    need = Scope.loyalty_write if write else Scope.loyalty_read
    if not p.has(need):
        raise ScopeRequired(details={"scope": need.value})
    if person_id is None:
        raise NotYourData("Say whose account: person_id.")
    return current(session, person_id)


def member_for(session: Session, p: Principal, person_id: str | None, write: bool = False) -> Member:
    return members.get(session, person_for(session, p, person_id, write))
