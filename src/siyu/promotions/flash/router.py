from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from siyu.auth.errors import InvalidToken, NotYourData, ScopeRequired
from siyu.auth.schemas import Role, Scope
from siyu.auth.service import Principal, authenticate
from siyu.deps import IdempotencyKey, OperatorDep, PrincipalDep, RuntimeDep, SessionDep
from siyu.identity.anchors import constituents
from siyu.kit.clock import utcnow
from siyu.outbox.service import fingerprint
from siyu.promotions.flash import rows, service
from siyu.promotions.flash.attempts import Idem
from siyu.promotions.flash.schemas import AttemptIn, FlashSessionIn, FlashSessionOut, FlashStats, ReservationOut
from siyu.promotions.flash.store import Window
from siyu.runtime import Runtime

router = APIRouter(prefix="/api/v1/promotions", tags=["promotions"])


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.post("/flash-sales", status_code=201, response_model=FlashSessionOut)
def create_session(body: FlashSessionIn, session: SessionDep, runtime: RuntimeDep, _: OperatorDep) -> FlashSessionOut:
    """A flash sale (秒杀): ``quota`` units of one SKU at ``price_fen`` in a time window, at most
    ``per_member_limit`` units per customer, each reservation held ``reservation_ttl_s`` seconds."""
    fs = service.create(session, body, runtime.flash.quotas, utcnow())
    return service.session_out(session, fs, runtime.flash.quotas)


@router.get("/flash-sales", response_model=list[FlashSessionOut])
def list_sessions(session: SessionDep, runtime: RuntimeDep, _: PrincipalDep,
                  open_only: bool = True) -> list[FlashSessionOut]:
    """Flash sales by start time (``open_only``: those not ended yet)."""
    return [service.session_out(session, fs, runtime.flash.quotas)
            for fs in service.listing(session, utcnow() if open_only else None)]


@router.get("/flash-sales/{session_id}", response_model=FlashSessionOut)
def get_session(session_id: str, session: SessionDep, runtime: RuntimeDep, _: PrincipalDep) -> FlashSessionOut:
    return service.session_out(session, rows.get_session(session, session_id), runtime.flash.quotas)


@router.get("/flash-sales/{session_id}/stats", response_model=FlashStats)
def session_stats(session_id: str, session: SessionDep, runtime: RuntimeDep, _: OperatorDep) -> FlashStats:
    """Units sold, held and left: ``balanced`` says sold + reserved + ordered + remaining == quota."""
    return service.stats(session, session_id, runtime.flash.quotas)


@router.post("/flash-sales/{session_id}/end", response_model=FlashSessionOut)
def end_session(session_id: str, session: SessionDep, runtime: RuntimeDep, _: OperatorDep) -> FlashSessionOut:
    """Close the sale now; reservations already made stay valid until they expire."""
    fs = service.end(session, session_id, runtime.flash.quotas, utcnow())
    return service.session_out(session, fs, runtime.flash.quotas)


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise InvalidToken()
    return value.strip()


@router.post("/flash-sales/{session_id}/attempts", status_code=201, response_model=ReservationOut,
             responses={409: {"description": "flash_not_started, flash_ended, flash_sold_out, flash_limit_reached"}})
async def attempt(session_id: str, body: AttemptIn, request: Request, key: IdempotencyKey = None) -> Response:
    """A member tries to reserve units (default one) of a flash sale. The answer's ``promotion`` goes into
    the order (``POST /api/v1/orders``) before ``expires_at`` to buy at the flash price."""
    flash = _runtime(request).flash
    token = _bearer(request)
    if token.count(".") != 2:  # an API token: valid or not, it is not a customer
        p: Principal = await anyio.to_thread.run_sync(_authenticate, _runtime(request), token)
        raise NotYourData("Flash-sale attempts are for members (a member token).", details={"role": p.role.value})
    person = await flash.person(token)
    idem = None
    if key is not None:
        idem = Idem(f"member:{person}:flash.attempt:{session_id}", key, fingerprint(body.model_dump(mode="json")))
    status, answer = await flash.attempt(session_id, person, body.channel.value, body.quantity, idem)
    return JSONResponse(answer, status_code=status)


def _authenticate(runtime: Runtime, token: str) -> Principal:
    with runtime.db.session() as s:
        return authenticate(s, token)


def _owner(session: SessionDep, p: Principal) -> list[str] | None:
    if p.role is Role.member:
        assert p.person_id is not None
        return constituents(session, p.person_id)
    if not p.has(Scope.promotions_write) and not p.has(Scope.orders_read):
        raise ScopeRequired(details={"scope": Scope.promotions_write.value})
    return None


def _out(session: SessionDep, reservation_id: str, owners: list[str] | None) -> ReservationOut:
    r = service.get_reservation(session, reservation_id, owners)
    return service.reservation_out(r, Window.of(rows.get_session(session, r.session_id)))


@router.get("/flash-reservations/{reservation_id}", response_model=ReservationOut)
def get_reservation(reservation_id: str, session: SessionDep, p: PrincipalDep) -> ReservationOut:
    """A reservation (a member sees their own)."""
    return _out(session, reservation_id, _owner(session, p))


@router.post("/flash-reservations/{reservation_id}/release", response_model=ReservationOut)
def release(reservation_id: str, session: SessionDep, runtime: RuntimeDep, p: PrincipalDep) -> ReservationOut:
    """Hand an unused reservation back: its units return to the quota (and to the customer's limit)."""
    owners = _owner(session, p)
    service.give_up(session, reservation_id, owners, runtime.flash.quotas, utcnow())
    return _out(session, reservation_id, owners)
