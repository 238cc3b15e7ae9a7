"""FastAPI dependencies shared by routers: the runtime, a transaction, the caller's credentials."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from siyu.auth.errors import AdminRequired, InvalidToken
from siyu.auth.service import Principal, authenticate
from siyu.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def db_session(runtime: RuntimeDep) -> Iterator[Session]:
    """The request's one transaction: committed when the endpoint returns, rolled back on error.

    ``scope="function"`` commits before the response is sent: with FastAPI's default for a ``yield``
    dependency the commit ran after it, so a client could be handed a new write key that did not work
    yet (or ever, had the commit failed)."""
    with runtime.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(db_session, scope="function")]


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise InvalidToken()
    return value.strip()


def principal(request: Request, runtime: RuntimeDep) -> Principal:
    token = _bearer(request)
    with runtime.db.session() as session:
        return authenticate(session, token)


def require_admin(p: Annotated[Principal, Depends(principal)]) -> Principal:
    if not p.is_admin:
        raise AdminRequired()
    return p


AdminDep = Annotated[Principal, Depends(require_admin)]
