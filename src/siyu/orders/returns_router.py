from __future__ import annotations

from fastapi import APIRouter

from siyu.auth.schemas import Scope
from siyu.deps import OrdersWriter, PrincipalDep, SessionDep
from siyu.orders import returns
from siyu.orders.access import is_member, order_for, require_scope
from siyu.orders.schemas import ReturnCreate, ReturnDecision, ReturnOut
from siyu.orders.views import return_out

router = APIRouter(prefix="/api/v1", tags=["after-sales"])


@router.post("/orders/{order_id}/returns", status_code=201, response_model=ReturnOut)
def request_return(order_id: str, body: ReturnCreate, session: SessionDep, p: PrincipalDep) -> ReturnOut:
    """Ask for a refund or a return, in any channel, for an order from any channel, under the one policy."""
    order = order_for(session, p, order_id, write=True)
    channel = body.channel.value if body.channel else order.channel
    return return_out(returns.request(session, order_id, body, channel))


@router.get("/orders/{order_id}/returns", response_model=list[ReturnOut])
def list_returns(order_id: str, session: SessionDep, p: PrincipalDep) -> list[ReturnOut]:
    order_for(session, p, order_id)
    return [return_out(r) for r in returns.returns_of(session, order_id)]


@router.post("/returns/{return_id}/decision", response_model=ReturnOut)
def decide(return_id: str, body: ReturnDecision, session: SessionDep, _: OrdersWriter) -> ReturnOut:
    """Approve (refund-only requests are refunded now) or reject."""
    return return_out(returns.decide(session, return_id, body.approve, body.note))


@router.post("/returns/{return_id}/receive", response_model=ReturnOut)
def receive(return_id: str, session: SessionDep, _: OrdersWriter) -> ReturnOut:
    """The returned goods arrived: restocked where they were sold from, and refunded."""
    return return_out(returns.receive(session, return_id))


@router.post("/returns/{return_id}/withdraw", response_model=ReturnOut)
def withdraw(return_id: str, session: SessionDep, p: PrincipalDep) -> ReturnOut:
    r = returns.get_return(session, return_id)
    if is_member(p):
        order_for(session, p, r.order_id, write=True)
    else:
        require_scope(p, Scope.orders_write)
    return return_out(returns.withdraw(session, return_id))
