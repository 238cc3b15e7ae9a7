"""Special prices a cart can claim (a flash-sale reservation, a group-buy): each promotion kind registers a
resolver here; the pricing engine asks it for the price of the cart's line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from siyu.promotions.errors import UnknownPromotion


@dataclass(frozen=True)
class Special:
    sku_id: str
    unit_price_fen: int
    max_quantity: int
    source: str  # shown in the quote, e.g. "flash_sale:<id>"


Resolver = Callable[[Session, str, str, datetime], Special]  # (session, promotion id, person id, at)
# Called in the order's transaction once it exists: (session, promotion id, order id, person id, at).
Attach = Callable[[Session, str, str, str, datetime], None]
_RESOLVERS: dict[str, Resolver] = {}
_ATTACH: dict[str, Attach] = {}


def register(kind: str, resolver: Resolver, attach: Attach | None = None) -> None:
    _RESOLVERS[kind] = resolver
    if attach is not None:
        _ATTACH[kind] = attach


def attach(session: Session, kind: str, promotion_id: str, order_id: str, person_id: str, at: datetime) -> None:
    """Tell the promotion an order now holds it (a flash-sale reservation is consumed, a group gets a
    member waiting to pay)."""
    hook = _ATTACH.get(kind)
    if hook is not None:
        hook(session, promotion_id, order_id, person_id, at)


def resolve(session: Session, kind: str, promotion_id: str, person_id: str, at: datetime) -> Special:
    if kind not in _RESOLVERS:
        raise UnknownPromotion(details={"kind": kind, "known": sorted(_RESOLVERS)})
    return _RESOLVERS[kind](session, promotion_id, person_id, at)
