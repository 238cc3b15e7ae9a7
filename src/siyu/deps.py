"""FastAPI dependencies shared by routers: the runtime, a transaction, the caller's credentials."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, TypeVar

import anyio
from fastapi import Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from siyu.auth.errors import AdminRequired, InvalidToken, ScopeRequired
from siyu.auth.schemas import Role, Scope
from siyu.auth.service import Principal
from siyu.outbox import service as outbox
from siyu.runtime import Runtime

T = TypeVar("T")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


# Requests holding a transaction at once, per process. Each one takes a thread from the endpoints' pool
# twice (the endpoint, then FastAPI's response validation) while its transaction holds locks; with every
# thread taken by requests waiting for those locks, the holder could never get its second thread and
# commit. Keeping transactional requests well under the pool size (THREADS) leaves threads free.
MAX_TRANSACTIONS = 32
THREADS = 80
_gates: dict[int, tuple[anyio.Semaphore, anyio.CapacityLimiter]] = {}


def _gate() -> tuple[anyio.Semaphore, anyio.CapacityLimiter]:
    """This event loop's gate for transactional requests and its threads for ending transactions."""
    key = id(asyncio.get_running_loop())
    if key not in _gates:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        _gates[key] = (anyio.Semaphore(MAX_TRANSACTIONS), anyio.CapacityLimiter(MAX_TRANSACTIONS))
    return _gates[key]


async def db_session(runtime: RuntimeDep) -> AsyncIterator[Session]:
    """The request's one transaction: committed when the endpoint returns, rolled back on error.

    ``scope="function"`` commits before the response is sent: with FastAPI's default for a ``yield``
    dependency the commit ran after it, so a client could be handed a new write key that did not work
    yet (or ever, had the commit failed). See MAX_TRANSACTIONS for why requests wait at a gate."""
    gate, enders = _gate()
    async with gate:
        session = runtime.db.sessions()
        session.begin()
        try:
            yield session
        except BaseException:
            await anyio.to_thread.run_sync(_end, session, False, limiter=enders)
            raise
        await anyio.to_thread.run_sync(_end, session, True, limiter=enders)


def _end(session: Session, commit: bool) -> None:
    """Commit or roll back, and close, in one trip to a thread."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(db_session, scope="function")]


# PostgreSQL reads wait on the network: they run on threads of their own (a few: a read is mostly Python
# work under the GIL, and a burst of requests each on its own thread only makes them take turns at it).
READ_THREADS = 16
_readers: dict[int, anyio.CapacityLimiter] = {}


async def read(runtime: Runtime, work: Callable[[Session], T]) -> T:
    """Run a read on its own session, for ``async`` read endpoints (a plain endpoint with
    :data:`SessionDep` takes three trips to a thread: the endpoint, FastAPI's check of its answer, the end of
    the transaction, which cost more than the reads of a small answer). On SQLite the read runs right here:
    a read of the local file takes a fraction of a millisecond and never waits for writers (WAL), less than
    the trip to a thread and back; on PostgreSQL it takes one trip."""
    if runtime.db.engine.dialect.name == "sqlite":
        return _read(runtime.db.sessions, work)
    key = id(asyncio.get_running_loop())
    limiter = _readers.get(key)
    if limiter is None:
        limiter = _readers[key] = anyio.CapacityLimiter(READ_THREADS)
    return await anyio.to_thread.run_sync(_read, runtime.db.sessions, work, limiter=limiter)


def _read(sessions: Callable[[], Session], work: Callable[[Session], T]) -> T:
    with sessions() as session:  # closing rolls back: nothing is written
        return work(session)


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise InvalidToken()
    return value.strip()


async def principal(request: Request, runtime: RuntimeDep) -> Principal:
    """The caller (``auth.cache``: checked once, then cached for a moment). The checks below are
    coroutines too: a plain function dependency would cost a thread hop per request for no I/O."""
    return await runtime.principals.resolve(_bearer(request))


async def require_admin(p: Annotated[Principal, Depends(principal)]) -> Principal:
    if not p.is_admin:
        raise AdminRequired()
    return p


async def require_operator(p: Annotated[Principal, Depends(principal)]) -> Principal:
    if p.role not in (Role.admin, Role.operator):
        raise AdminRequired("This needs an operator or admin token.")
    return p


AdminDep = Annotated[Principal, Depends(require_admin)]
OperatorDep = Annotated[Principal, Depends(require_operator)]
PrincipalDep = Annotated[Principal, Depends(principal)]


def scope(required: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits admin and operator tokens, and server keys holding ``required``."""

    async def check(p: PrincipalDep) -> Principal:
        if not p.has(required):
            raise ScopeRequired(details={"scope": required.value})
        return p

    return check


PersonsReader = Annotated[Principal, Depends(scope(Scope.persons_read))]
IdentityWriter = Annotated[Principal, Depends(scope(Scope.identity_write))]
IdentityAdmin = Annotated[Principal, Depends(scope(Scope.identity_admin))]
CatalogWriter = Annotated[Principal, Depends(scope(Scope.catalog_write))]
OrdersReader = Annotated[Principal, Depends(scope(Scope.orders_read))]
OrdersWriter = Annotated[Principal, Depends(scope(Scope.orders_write))]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128,
                                              description="Retries with the same key get the first answer.")]


def claim_idempotency(session: Session, p: Principal, route: str, key: str | None, body: BaseModel) -> Response | None:
    """With an ``Idempotency-Key``: the stored answer of an earlier request with this key (to return as is),
    or None to go ahead; the caller then calls :func:`remember_answer` in the same transaction."""
    if key is None:
        return None
    replay = outbox.claim_key(session, _key_scope(p, route), key, outbox.fingerprint(body.model_dump(mode="json")))
    if replay is None:
        return None
    return JSONResponse(replay.body, status_code=replay.status)


def remember_answer(session: Session, p: Principal, route: str, key: str | None, status: int, body: BaseModel) -> None:
    if key is not None:
        outbox.store_answer(session, _key_scope(p, route), key, status, body.model_dump(mode="json"))


def _key_scope(p: Principal, route: str) -> str:
    """Keys are per caller: per token, and per customer for member tokens (which share no token row)."""
    return f"{p.token_id}:{p.person_id or ''}:{route}"
