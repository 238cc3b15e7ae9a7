from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from siyu.auth.errors import NotYourData, ScopeRequired
from siyu.auth.schemas import Role, Scope
from siyu.auth.service import Principal
from siyu.deps import PersonsReader, PrincipalDep, RuntimeDep, SessionDep, read
from siyu.identity import service as identity
from siyu.identity.errors import PersonNotFound
from siyu.profiles import service
from siyu.profiles.schemas import PersonOut, TimelinePage, TraitChangeOut
from siyu.warehouse.base import WarehouseUnavailable

router = APIRouter(prefix="/api/v1", tags=["persons"])


def _readable(p: Principal, session: SessionDep, person_id: str) -> str:
    """Operators and server keys with persons:read read anyone; a member token reads only its own person (an
    id that names no person is not its own either: members cannot probe which ids exist)."""
    if p.role is Role.member:
        assert p.person_id is not None
        own = identity.current(session, p.person_id)
        try:
            target = identity.current(session, person_id)
        except PersonNotFound as exc:
            raise NotYourData() from exc
        if own != target:
            raise NotYourData()
        return own
    if not p.has(Scope.persons_read):
        raise ScopeRequired(details={"scope": Scope.persons_read.value})
    return person_id


@router.get("/persons/by-identifier/{kind}/{value}", response_model=PersonOut)
async def person_by_identifier(kind: str, value: str, runtime: RuntimeDep, _: PersonsReader) -> PersonOut:
    """The person holding an identifier of any kind (an OpenID is written ``APPID:OPENID``)."""
    return await read(runtime, lambda s: service.profile_by_identifier(s, kind, value))


@router.get("/persons/{person_id}", response_model=PersonOut)
def get_person(person_id: str, session: SessionDep, p: PrincipalDep) -> PersonOut:
    """A person; an id merged into another answers the surviving person."""
    return service.profile(session, _readable(p, session, person_id))


@router.get("/persons/{person_id}/traits/history", response_model=list[TraitChangeOut])
def trait_history(person_id: str, session: SessionDep, p: PrincipalDep, key: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[TraitChangeOut]:
    """Every observed value of the person's traits, newest first."""
    return service.trait_history(session, _readable(p, session, person_id), key, limit)


@router.get("/persons/{person_id}/timeline", response_model=TimelinePage)
def timeline(person_id: str, session: SessionDep, runtime: RuntimeDep, p: PrincipalDep,
             before: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> TimelinePage:
    """The person's events from every channel, newest first; page with ``before=next_cursor``."""
    if runtime.warehouse is None:
        raise WarehouseUnavailable()
    pid = _readable(p, session, person_id)
    return service.timeline(session, runtime.warehouse, pid, before, limit, runtime.settings.query_timeout_s)


@router.get("/me", response_model=PersonOut)
def me(session: SessionDep, p: PrincipalDep) -> PersonOut:
    """The member token's own profile."""
    if p.role is not Role.member or p.person_id is None:
        raise NotYourData("This needs a member token.")
    return service.profile(session, p.person_id)
