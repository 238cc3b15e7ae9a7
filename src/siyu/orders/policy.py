"""The one after-sales and payment policy every channel shares (operators change it without code)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from siyu.db import upsert
from siyu.kit.clock import utcnow
from siyu.orders.models import CommercePolicy, Order
from siyu.orders.schemas import PolicyIn

_HELD = "siyu.orders.policy"


def policy(session: Session) -> CommercePolicy:
    """The policy row, read once per transaction however often asked (the session holds it for the rest of
    the transaction)."""
    txn = session.get_transaction()
    held = session.info.get(_HELD)
    if held is not None and held[0] is txn and txn is not None:
        return held[1]  # type: ignore[no-any-return]
    row = session.get(CommercePolicy, 1, populate_existing=True)
    if row is None:
        session.execute(upsert(session, CommercePolicy).values(id=1, updated_at=utcnow(), **PolicyIn().model_dump())
                        .on_conflict_do_nothing())
        row = session.get(CommercePolicy, 1)
        assert row is not None
    session.info[_HELD] = (txn, row)
    return row


def set_policy(session: Session, body: PolicyIn) -> CommercePolicy:
    row = policy(session)
    for key, value in body.model_dump().items():
        setattr(row, key, value)
    row.updated_at = utcnow()
    session.flush()
    return row


def return_deadline(order: Order, pol: CommercePolicy) -> datetime | None:
    if order.completed_at is None:
        return None
    return order.completed_at + timedelta(days=pol.return_window_days)
