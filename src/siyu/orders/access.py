"""Who may touch an order: its own customer (member token), or a caller with the orders scope."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.auth.errors import ScopeRequired
from siyu.auth.schemas import Role, Scope
from siyu.auth.service import Principal
from siyu.identity.anchors import current_person, ensure_person, same_person
from siyu.orders.errors import CustomerRequired, NotYourOrder
from siyu.orders.models import Order
from siyu.orders.repository import get
from siyu.orders.schemas import CustomerRef


def is_member(p: Principal) -> bool:
    return p.role is Role.member and p.person_id is not None


def order_for(session: Session, p: Principal, order_id: str, write: bool = False) -> Order:
    """The order, if ``p`` may see it (``write``: act on it as its customer would)."""
    order = get(session, order_id)
    if is_member(p):
        assert p.person_id is not None
        if not same_person(session, order.person_id, p.person_id):
            raise NotYourOrder(details={"order_id": order_id})
        return order
    need = Scope.orders_write if write else Scope.orders_read
    if not p.has(need):
        raise ScopeRequired(details={"scope": need.value})
    return order


def customer_of(session: Session, p: Principal, ref: CustomerRef | None) -> str:
    """The person an order is for: a member orders for themself; a brand server names the customer."""
    if is_member(p):
        assert p.person_id is not None
        if ref is not None:
            raise NotYourOrder("A member token orders for its own customer; leave customer out.")
        return current_person(session, p.person_id)
    if not p.has(Scope.orders_write):
        raise ScopeRequired(details={"scope": Scope.orders_write.value})
    if ref is None:
        raise CustomerRequired()
    if ref.person_id is not None:
        return current_person(session, ref.person_id)
    assert ref.kind is not None and ref.value is not None
    return ensure_person(session, ref.kind.value, ref.value)


def require_scope(p: Principal, scope: Scope) -> None:
    if is_member(p) or not p.has(scope):
        raise ScopeRequired(details={"scope": scope.value})
