from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from siyu.auth.schemas import Scope
from siyu.deps import (
    IdempotencyKey,
    OperatorDep,
    OrdersWriter,
    PrincipalDep,
    RuntimeDep,
    SessionDep,
    claim_idempotency,
    remember_answer,
)
from siyu.errors import SiyuError, error_response
from siyu.identity.anchors import constituents, remembered
from siyu.identity.errors import PersonNotFound
from siyu.orders import fulfilment, payments, policy, refunds, repository, service
from siyu.orders.access import customer_of, is_member, order_for, require_scope
from siyu.orders.errors import OrderNotFound, UnknownProvider, WrongPickupCode
from siyu.orders.providers import verify
from siyu.orders.schemas import (
    CancelRequest,
    OrderCreate,
    OrderOut,
    OrderPage,
    PaymentCreate,
    PaymentOut,
    PickupVerify,
    PolicyIn,
    PolicyOut,
    RefundCreate,
    RefundOut,
    ShipmentCreate,
    ShipmentUpdate,
    Status,
    StorePickup,
    WebhookEvent,
)
from siyu.orders.service import OPEN_FOR_CUSTOMER_CANCEL, OPEN_FOR_OPERATOR_CANCEL
from siyu.orders.views import order_out

router = APIRouter(prefix="/api/v1", tags=["orders"])


def _answer(out: BaseModel, status: int) -> Response:
    """``out`` (already an instance of the route's response model) as the answer, serialised here: FastAPI
    would validate it again in another thread while the request's transaction, and on SQLite the write
    lock, waits for the commit that follows."""
    return Response(out.model_dump_json(), status_code=status, media_type="application/json")


@router.post("/orders", status_code=201, response_model=OrderOut)
def create_order(body: OrderCreate, session: SessionDep, p: PrincipalDep,
                 key: IdempotencyKey = None) -> Response | OrderOut:
    """Place an order in a channel. Prices are the channel listing's at this moment (a client price is
    refused); stock is reserved until payment or the unpaid timeout. A member token orders for its own
    customer; a brand server (``orders:write``) names the customer."""
    if (replay := claim_idempotency(session, p, "orders.create", key, body)) is not None:
        return replay
    with remembered(session):  # who the customer is, asked by pricing, benefits, coupons and the event
        person = customer_of(session, p, body.customer)
        out = order_out(session, *service.create(session, body, person))
    remember_answer(session, p, "orders.create", key, 201, out)
    return _answer(out, 201)


@router.get("/orders", response_model=OrderPage)
def list_orders(session: SessionDep, p: PrincipalDep, person_id: str | None = None, status: Status | None = None,
                channel: str | None = None, before: str | None = None,
                limit: Annotated[int, Query(ge=1, le=200)] = 50) -> OrderPage:
    """Newest first. A member sees their own orders from every channel; ``orders:read`` sees anyone's
    (``person_id``: one customer's, including persons since merged into them)."""
    if is_member(p):
        assert p.person_id is not None
        persons: list[str] | None = constituents(session, p.person_id)
    else:
        require_scope(p, Scope.orders_read)
        try:
            persons = constituents(session, person_id) if person_id else None
        except PersonNotFound:
            persons = []  # nobody: no orders
    items = repository.list_orders(session, persons, status.value if status else None, channel, before, limit + 1)
    page = items[:limit]
    return OrderPage(items=[order_out(session, o) for o in page],
                     next_cursor=page[-1].id if len(items) > limit and page else None)


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: str, session: SessionDep, p: PrincipalDep) -> OrderOut:
    """One order, from whichever channel it was placed in."""
    return order_out(session, order_for(session, p, order_id))


@router.post("/orders/{order_id}/cancel", response_model=OrderOut)
def cancel_order(order_id: str, session: SessionDep, p: PrincipalDep, body: CancelRequest | None = None) -> OrderOut:
    """Cancel: unpaid orders release their stock; paid ones (not yet in fulfilment, for a customer) are
    refunded in full."""
    order_for(session, p, order_id, write=True)
    allowed = OPEN_FOR_CUSTOMER_CANCEL if is_member(p) else OPEN_FOR_OPERATOR_CANCEL
    reason = body.reason if body else "customer"
    return order_out(session, service.cancel(session, order_id, reason, allowed))


@router.post("/orders/{order_id}/payments", status_code=201, response_model=PaymentOut)
def pay(order_id: str, body: PaymentCreate, session: SessionDep, p: PrincipalDep,
        key: IdempotencyKey = None) -> Response | PaymentOut:
    """Open a payment. ``webhook``: pending until the provider's signed callback (a member may open one for
    their order). ``manual``: an offline payment confirmed at once (``orders:write`` only)."""
    if (replay := claim_idempotency(session, p, f"orders.pay:{order_id}", key, body)) is not None:
        return replay
    with remembered(session):
        order = order_for(session, p, order_id, write=True)
        if body.provider == "manual":
            require_scope(p, Scope.orders_write)
        elif body.provider != "webhook":
            raise UnknownProvider(details={"provider": body.provider})
        out = PaymentOut.model_validate(payments.open_payment(session, order, body.provider, body.reference),
                                        from_attributes=True)
    remember_answer(session, p, f"orders.pay:{order_id}", key, 201, out)
    return _answer(out, 201)


@router.post("/payments/webhook", openapi_extra={"security": []})
async def payment_webhook(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """Callbacks of the ``webhook`` provider, signed (``Siyu-Signature: t=...,v1=HMAC-SHA256``). Each
    callback id is handled once; a late or second payment is refused and refunded."""
    body = await request.body()
    verify(runtime.settings.payment_webhook_secret, request.headers.get("siyu-signature"), body)
    try:
        event = WebhookEvent.model_validate_json(body)
    except ValidationError as exc:
        raise SiyuError("The callback is not valid.", code="validation_error", status=422,
                        details=[{"loc": list(e["loc"]), "message": e["msg"], "type": e["type"]}
                                 for e in exc.errors()]) from exc

    def handle() -> str:
        with runtime.db.session() as session:
            return payments.handle_callback(session, event)

    outcome = await asyncio.to_thread(handle)
    return JSONResponse({"received": True, "outcome": outcome})


@router.post("/orders/{order_id}/refunds", status_code=201, response_model=RefundOut)
def refund(order_id: str, body: RefundCreate, session: SessionDep, p: OrdersWriter,
           key: IdempotencyKey = None) -> Response | RefundOut:
    """Refund part or all of a paid order (an amount, or lines and quantities)."""
    if (replay := claim_idempotency(session, p, f"orders.refund:{order_id}", key, body)) is not None:
        return replay
    order = repository.get(session, order_id)
    quantities = {x.line_id: x.quantity for x in body.lines} or None
    amount = body.amount_fen
    if amount is None:
        amount = refunds.line_amount(repository.lines_of(session, order_id), quantities or {}) if quantities else (
            order.paid_fen - order.refunded_fen)
    out = RefundOut.model_validate(refunds.refund(session, order, amount, body.reason, quantities=quantities),
                                   from_attributes=True)
    remember_answer(session, p, f"orders.refund:{order_id}", key, 201, out)
    return out


@router.post("/orders/{order_id}/fulfilment", response_model=OrderOut)
def start_fulfilment(order_id: str, session: SessionDep, _: OrdersWriter) -> OrderOut:
    """Picking and packing started: the customer can no longer cancel by themself."""
    return order_out(session, fulfilment.start(session, order_id))


@router.post("/orders/{order_id}/shipments", status_code=201, response_model=OrderOut)
def ship(order_id: str, body: ShipmentCreate, session: SessionDep, _: OrdersWriter) -> OrderOut:
    return order_out(session, fulfilment.ship(session, order_id, body.carrier, body.tracking_number))


@router.post("/orders/{order_id}/shipments/{shipment_id}/events", response_model=OrderOut)
def shipment_event(order_id: str, shipment_id: str, body: ShipmentUpdate, session: SessionDep,
                   _: OrdersWriter) -> OrderOut:
    """A carrier update; ``delivered`` completes the order and starts the return window."""
    return order_out(session, fulfilment.track(session, order_id, shipment_id, body.status, body.note))


@router.post("/orders/{order_id}/receipt", response_model=OrderOut)
def confirm_receipt(order_id: str, session: SessionDep, p: PrincipalDep) -> OrderOut:
    """The customer confirms a delivery arrived (确认收货)."""
    order_for(session, p, order_id, write=True)
    return order_out(session, fulfilment.complete(session, order_id, (Status.shipped,)))


@router.post("/orders/{order_id}/ready-for-pickup", response_model=OrderOut)
def ready_for_pickup(order_id: str, session: SessionDep, _: OrdersWriter) -> OrderOut:
    """The order waits at its store; the customer is shown a 6-digit pickup code."""
    return order_out(session, fulfilment.ready_for_pickup(session, order_id))


def _picked_up(session: SessionDep, order: object) -> Response | OrderOut:
    if order is None:
        return error_response(WrongPickupCode())  # returned, not raised: the attempt count is committed
    return order_out(session, order)  # type: ignore[arg-type]


@router.post("/orders/{order_id}/pickup", response_model=OrderOut)
def pickup(order_id: str, body: PickupVerify, session: SessionDep, _: OrdersWriter) -> Response | OrderOut:
    """Store staff check the customer's code; the order is completed."""
    return _picked_up(session, fulfilment.check_pickup_code(session, order_id, body.code))


@router.post("/stores/pickup", response_model=OrderOut)
def store_pickup(body: StorePickup, session: SessionDep, _: OrdersWriter) -> Response | OrderOut:
    """Store staff type only the code: the order waiting at this store with it is completed."""
    order = fulfilment.pickup_at_store(session, body.location_id, body.code)
    if order is None:
        raise OrderNotFound("No order waits at this store with that code.")
    return _picked_up(session, order)


@router.post("/orders/{order_id}/pickup/unlock", response_model=OrderOut)
def unlock_pickup(order_id: str, session: SessionDep, _: OrdersWriter) -> OrderOut:
    return order_out(session, fulfilment.release_pickup_lock(session, order_id))


@router.get("/commerce/policy", response_model=PolicyOut)
def get_policy(session: SessionDep, _: PrincipalDep) -> PolicyOut:
    """The after-sales and payment policy every channel shares."""
    return PolicyOut.model_validate(policy.policy(session), from_attributes=True)


@router.put("/commerce/policy", response_model=PolicyOut)
def set_policy(body: PolicyIn, session: SessionDep, _: OperatorDep) -> PolicyOut:
    return PolicyOut.model_validate(policy.set_policy(session, body), from_attributes=True)

