"""The one after-sales and payment policy every channel shares (operators change it without code)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from siyu.db import upsert
from siyu.kit.clock import utcnow
from siyu.orders.models import CommercePolicy, Order
from siyu.orders.schemas import PolicyIn


def policy(session: Session) -> CommercePolicy:
    row = session.get(CommercePolicy, 1)
    if row is None:
        session.execute(upsert(session, CommercePolicy).values(id=1, updated_at=utcnow(), **PolicyIn().model_dump())
                        .on_conflict_do_nothing())
        row = session.get(CommercePolicy, 1)
        assert row is not None
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
