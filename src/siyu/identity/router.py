from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from siyu.auth import tokens
from siyu.deps import IdentityAdmin, IdentityWriter, PersonsReader, RuntimeDep, SessionDep
from siyu.identity import service
from siyu.identity.models import IdentityConflict, IdentityMerge
from siyu.identity.schemas import (
    ConflictOut,
    ConflictPage,
    LoginRequest,
    LoginResponse,
    MergeOut,
    MergeRequest,
    UnmergeRequest,
)

router = APIRouter(prefix="/api/v1", tags=["identity"])


def merge_out(m: IdentityMerge) -> MergeOut:
    return MergeOut(id=m.id, action=m.action, into_person=m.into_person, from_person=m.from_person,
                    identifiers=[str(i) for i in m.identifiers], trigger=m.trigger, reason=m.reason, actor=m.actor,
                    message_id=m.message_id, created_at=m.created_at, undone_at=m.undone_at,
                    undone_by=m.undone_by)


def conflict_out(c: IdentityConflict) -> ConflictOut:
    return ConflictOut(id=c.id, reason=c.reason, person_id=c.person_id, other_person_id=c.other_person_id or None,
                       identifier_kind=c.identifier_kind, identifier_value=c.identifier_value,
                       message_id=c.message_id, created_at=c.created_at, resolved_at=c.resolved_at)


@router.post("/identity/login", response_model=LoginResponse)
def login(body: LoginRequest, session: SessionDep, runtime: RuntimeDep, p: IdentityWriter) -> LoginResponse:
    """A trusted login: the brand's server (secret key with ``identity:write``) asserts identifiers it verified
    (a WeChat login's app id, OpenID and UnionID; a phone checked by SMS; its own user id). They are resolved
    like an identify call, immediately, and a short-lived member token for that customer is returned."""
    person, outcome = service.login(session, body, p.actor)
    token, expires = tokens.issue_member_token(session, person, runtime.settings.member_token_ttl_s)
    return LoginResponse(person_id=person, member_token=token, expires_at=expires, merged=outcome.merges)


@router.post("/identity/merges", status_code=201, response_model=MergeOut)
def merge(body: MergeRequest, session: SessionDep, p: IdentityAdmin) -> MergeOut:
    """Merge ``from_person`` into ``into_person`` (for example to settle a recorded conflict). Undoable."""
    return merge_out(service.merge(session, body.into_person, body.from_person, body.reason, p.actor))


@router.get("/identity/merges/{merge_id}", response_model=MergeOut)
def get_merge(merge_id: str, session: SessionDep, _: IdentityAdmin) -> MergeOut:
    return merge_out(service.merge_by_id(session, merge_id))


@router.post("/identity/merges/{merge_id}/undo", response_model=MergeOut)
def unmerge(merge_id: str, session: SessionDep, p: IdentityAdmin, body: UnmergeRequest | None = None) -> MergeOut:
    """Undo a merge (automatic or explicit): both persons are restored and their events reassigned."""
    reason = body.reason if body is not None else "operator unmerge"
    return merge_out(service.unmerge(session, merge_id, reason, p.actor))


@router.get("/identity/conflicts", response_model=ConflictPage)
def conflicts(session: SessionDep, _: IdentityAdmin,
              status: Literal["open", "resolved", "all"] = "open", after: str | None = None,
              person_id: str | None = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 100) -> ConflictPage:
    """Identifiers that would have joined two identified persons, or gone over a per-kind limit."""
    items = service.conflicts(session, status, after, limit + 1, person_id)
    page = items[:limit]
    return ConflictPage(items=[conflict_out(c) for c in page],
                        next_cursor=page[-1].id if len(items) > limit and page else None)


@router.post("/identity/conflicts/{conflict_id}/dismiss", response_model=ConflictOut)
def dismiss(conflict_id: str, session: SessionDep, _: IdentityAdmin) -> ConflictOut:
    """Mark a conflict as looked at (the two persons stay apart)."""
    return conflict_out(service.dismiss_conflict(session, conflict_id))


@router.get("/persons/{person_id}/identity-history", response_model=list[MergeOut])
def identity_history(person_id: str, session: SessionDep, _: PersonsReader) -> list[MergeOut]:
    """Merges and unmerges that shaped the person, oldest first."""
    return [merge_out(m) for m in service.history(session, service.current(session, person_id))]
