"""Points plus money: a goods item that costs points and money (``cash_fen`` per unit).

Redeeming spends the points and holds the item's stock (``awaiting_payment``, ``redemptions.redeem_item``). The
money is paid as an order of the item's SKU that names the redemption as its promotion (``{"kind":
"points_mall", "id": <redemption id>}``): the pricing engine asks :func:`resolve` for the special price (the
item's cash price, for at most the quantity redeemed) and the order's transaction calls :func:`attach`. The
order's payment completes the redemption (:func:`paid`, from the ``orders.paid`` event); its cancellation (by
the customer, an operator or the unpaid timeout) or a refund in full gives the points and the stock back
(``redemptions.reverse_for_order``), and so does the sweeper for a redemption no order claimed before its
``expires_at`` (the order policy's unpaid timeout after redeeming; :func:`expire`).

Concurrency: every step is one conditional UPDATE of the redemption's row, so of two racing steps one wins:
- an order claims it (``order_id IS NULL`` -> the order) only while ``awaiting_payment`` and before
  ``expires_at``: of two concurrent orders one gets the price, the other's order is not created;
- the sweeper gives it back only while no order holds it (``order_id IS NULL``), so an order placed at the
  deadline and the sweeper never both win;
- a payment completes it only from ``awaiting_payment``; giving back moves it to ``reversed`` only from
  ``awaiting_payment`` or ``completed``, and only the transaction that did so restores anything.
A replayed order event therefore changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.db import affected
from siyu.loyalty import members, redemptions
from siyu.loyalty.errors import MallOrderQuantity, RedemptionNotFound, RedemptionNotPayable
from siyu.loyalty.models import MallItem, Redemption
from siyu.loyalty.schemas import MALL_PROMOTION, RedemptionOut
from siyu.orders import repository as orders
from siyu.promotions import specials
from siyu.promotions.schemas import PromotionRef

AWAITING = "awaiting_payment"


def _usable(session: Session, redemption_id: str, person_id: str, at: datetime) -> tuple[Redemption, MallItem]:
    r = session.get(Redemption, redemption_id)
    m = members.find(session, person_id)
    item = session.get(MallItem, r.item_id) if r is not None and r.item_id is not None else None
    if r is None or m is None or r.member_id != m.id or item is None or item.sku_id is None or not r.cash_fen:
        raise RedemptionNotFound(details={"redemption_id": redemption_id})
    if r.status != AWAITING or r.order_id is not None or r.expires_at is None or r.expires_at <= at:
        raise RedemptionNotPayable(details={"redemption_id": r.id, "status": r.status, "order_id": r.order_id,
                                            "expires_at": r.expires_at.isoformat() if r.expires_at else None})
    return r, item


def resolve(session: Session, redemption_id: str, person_id: str, at: datetime) -> specials.Special:
    """The price an order (or a quote) gets with a redemption: the item's cash price per unit, for the
    redeeming member only, while the redemption waits for its money."""
    r, item = _usable(session, redemption_id, person_id, at)
    assert item.sku_id is not None
    return specials.Special(sku_id=item.sku_id, unit_price_fen=r.cash_fen // r.quantity, max_quantity=r.quantity,
                            source=f"{MALL_PROMOTION}:{r.id}")


def attach(session: Session, redemption_id: str, order_id: str, person_id: str, at: datetime) -> None:
    """The order's transaction claims the redemption (one conditional UPDATE). The order must hold exactly the
    quantity redeemed: every unit paid for with points is paid for with money and shipped."""
    r, item = _usable(session, redemption_id, person_id, at)
    ordered = sum(ln.quantity for ln in orders.lines_of(session, order_id) if ln.sku_id == item.sku_id)
    if ordered != r.quantity:
        raise MallOrderQuantity(details={"redemption_id": r.id, "quantity": r.quantity, "ordered": ordered})
    if not affected(session.execute(update(Redemption).where(
            Redemption.id == r.id, Redemption.status == AWAITING, Redemption.order_id.is_(None),
            Redemption.expires_at > at).values(order_id=order_id))):
        raise RedemptionNotPayable(details={"redemption_id": r.id})


specials.register(MALL_PROMOTION, resolve, attach)


def paid(session: Session, order_id: str) -> int:
    """The order paying a redemption's money was paid: the redemption is completed (once)."""
    return affected(session.execute(update(Redemption).where(Redemption.order_id == order_id,
                                                             Redemption.status == AWAITING)
                                    .values(status="completed")))


def unordered_due(session: Session, now: datetime, limit: int = 500) -> list[str]:
    """Redemptions still waiting for an order at their deadline."""
    return list(session.scalars(select(Redemption.id).where(Redemption.status == AWAITING,
                                                            Redemption.order_id.is_(None),
                                                            Redemption.expires_at <= now)
                                .order_by(Redemption.expires_at).limit(limit)))


def expire(session: Session, redemption_id: str, now: datetime) -> bool:
    """No order claimed the redemption in time: its points and stock come back (unless an order claimed it
    meanwhile: the give-back is conditional on ``order_id IS NULL``)."""
    r = session.get(Redemption, redemption_id)
    if r is None:
        return False
    return redemptions.reverse(session, r, now, "points plus money: not ordered in time",
                               Redemption.order_id.is_(None), Redemption.expires_at <= now)


def redemption_out(r: Redemption) -> RedemptionOut:
    """A redemption as the API shows it; one waiting for its order carries the promotion to order with."""
    ref = PromotionRef(kind=MALL_PROMOTION, id=r.id) if r.status == AWAITING and r.order_id is None else None
    return RedemptionOut(id=r.id, item_id=r.item_id, order_id=r.order_id, quantity=r.quantity, points=r.points,
                         cash_fen=r.cash_fen, status=r.status, channel=r.channel, created_at=r.created_at,
                         expires_at=r.expires_at, promotion=ref)
