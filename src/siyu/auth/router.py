from __future__ import annotations

from fastapi import APIRouter

from siyu.auth import service
from siyu.auth.schemas import Role, TokenCreate, TokenCreated, TokenOut
from siyu.deps import AdminDep, RuntimeDep, SessionDep
from siyu.errors import NotFound

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


@router.post("", status_code=201, response_model=TokenCreated)
def create_token(body: TokenCreate, session: SessionDep, _: AdminDep) -> TokenCreated:
    token, secret = service.create_token(session, body.role, body.name, body.scopes)
    return TokenCreated(id=token.id, role=Role(token.role), name=token.name, scopes=token.scopes, token=secret)


@router.get("", response_model=list[TokenOut])
def list_tokens(session: SessionDep, _: AdminDep) -> list[TokenOut]:
    return [
        TokenOut(id=t.id, role=Role(t.role), name=t.name, scopes=t.scopes, prefix=t.prefix,
                 created_at=t.created_at, revoked_at=t.revoked_at)
        for t in service.list_tokens(session)
    ]


@router.post("/{token_id}/revoke", response_model=TokenOut)
def revoke_token(token_id: str, session: SessionDep, runtime: RuntimeDep, _: AdminDep) -> TokenOut:
    t = service.revoke_token(session, token_id)
    if t is None:
        raise NotFound(code="token_not_found", details={"token_id": token_id})
    runtime.principals.forget()  # this process refuses it now, the others within auth.cache's TTL
    return TokenOut(id=t.id, role=Role(t.role), name=t.name, scopes=t.scopes, prefix=t.prefix,
                    created_at=t.created_at, revoked_at=t.revoked_at)
