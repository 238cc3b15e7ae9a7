"""The pricing engine: cart + customer + channel + time -> what every line costs and why.

One function (:func:`price`) for a dry run ("what would this cart cost") and for checkout, applying in
this order, deterministically:

1. **Unit price** per line: the channel listing's price, replaced by the latest started price-schedule
   entry (early-bird / presale stages), replaced by a claimed special price (flash sale, group-buy).
   Availability: the listing's window, opened earlier for members of an early-access tier.
2. **Tier discount**: the member's tier ``discount_bp`` on every line not at a special price.
3. **Coupons**: each coupon is checked (owner, status, validity, channel, tier, new members, SKUs,
   threshold); at most one per stacking group (the first listed wins); applied SKU-scoped first, then
   order-wide, in the order threshold, fixed, percent; each takes at most what is left of its eligible
   amount after the tier discount and earlier coupons (never below zero). Special-price lines take no
   coupons.
4. **Shipping**: the policy's fee, waived for pickup, for tiers with free shipping, by a free-shipping
   coupon, or when the goods after discounts reach ``free_shipping_over_fen``.
5. **Points** (optional): ``loyalty.program.points_payment``, the one rule checkout and
   ``POST /loyalty/orders/{id}/points`` use too: whole fen at the programme's rate, at most its share
   (``max_order_share_bp``) of the goods after discounts (shipping excluded). Points offered beyond the cap
   are clamped to it (rounded down to whole fen); a result below the programme's minimum uses none.

Discounts are allocated to lines in proportion to their amounts (largest remainder, exact to the fen), and
the points discount to lines in proportion to what is left of them after those (``Line.points_fen``), so a
line's refund returns what was paid for it, in cash and in points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.catalog import service as catalog
from siyu.errors import SiyuError
from siyu.identity.anchors import constituents, remembered
from siyu.loyalty import benefits, program
from siyu.loyalty.benefits import MemberBenefits
from siyu.orders.policy import policy
from siyu.promotions import coupons, specials
from siyu.promotions.models import Coupon, CouponTemplate, EarlyAccess, PriceSchedule
from siyu.promotions.schemas import AdjustmentOut, CouponKind, QuotedLine, QuoteOut, RejectedCoupon

KIND_ORDER = {CouponKind.threshold: 0, CouponKind.fixed: 1, CouponKind.percent: 2, CouponKind.free_shipping: 3}


@dataclass
class Cart:
    channel: str
    person_id: str | None
    lines: list[tuple[str, int]]  # (sku id, quantity)
    coupons: list[str] = field(default_factory=list)
    points: int = 0
    promotion: tuple[str, str] | None = None  # (kind, id)
    pickup: bool = False


@dataclass
class Line:
    sku_id: str
    sku_code: str
    product_id: str
    title: str
    quantity: int
    list_unit_fen: int
    unit_price_fen: int
    source: str
    special: bool
    discount_fen: int = 0  # tier and coupons
    points_fen: int = 0  # its share of what points pay

    @property
    def amount(self) -> int:
        return self.unit_price_fen * self.quantity


@dataclass
class Priced:
    quote: QuoteOut
    lines: list[Line]
    coupon_discounts: dict[str, int]


def _schedules(session: Session, channel: str, sku_ids: Sequence[str], at: datetime) -> dict[str, tuple[int, str]]:
    """Per SKU, the latest started price-schedule entry's (price, source) (early-bird / presale stages)."""
    out: dict[str, tuple[datetime, int, str]] = {}
    for sku_id, starts, price_fen, label in session.execute(
            select(PriceSchedule.sku_id, PriceSchedule.starts_at, PriceSchedule.price_fen, PriceSchedule.label)
            .where(PriceSchedule.sku_id.in_(sku_ids), PriceSchedule.channel == channel, PriceSchedule.starts_at <= at,
                   (PriceSchedule.ends_at.is_(None)) | (PriceSchedule.ends_at > at))):
        if sku_id not in out or starts > out[sku_id][0]:
            out[sku_id] = (starts, int(price_fen), f"schedule:{label}" if label else "schedule")
    return {sku: (price_fen, source) for sku, (_, price_fen, source) in out.items()}


def _early_openings(session: Session, channel: str, sku_ids: Sequence[str], perks: MemberBenefits
                    ) -> dict[str, datetime]:
    """Per SKU, when this member's tier may start buying it (presale early access), where it may early."""
    if not perks.allowed_tiers:
        return {}
    return {sku: opens for sku, opens in session.execute(
        select(EarlyAccess.sku_id, func.min(EarlyAccess.opens_at))
        .where(EarlyAccess.sku_id.in_(sku_ids), EarlyAccess.channel == channel,
               EarlyAccess.tier.in_(perks.allowed_tiers))
        .group_by(EarlyAccess.sku_id))}


def _lines(session: Session, cart: Cart, perks: MemberBenefits, at: datetime
           ) -> tuple[list[Line], list[catalog.Quote]]:
    """Every line's unit price, in a few queries whatever the number of lines."""
    special = None
    if cart.promotion is not None:
        if cart.person_id is None:
            raise SiyuError("A special price needs a customer.", code="customer_required", status=422)
        special = specials.resolve(session, cart.promotion[0], cart.promotion[1], cart.person_id, at)
    sku_ids = [sku_id for sku_id, _ in cart.lines]
    quotes = catalog.quotes(session, cart.channel, sku_ids, at, perks.allowed_tiers,
                            opens_early=_early_openings(session, cart.channel, sku_ids, perks))
    schedules = _schedules(session, cart.channel, sku_ids, at)
    out = []
    for (sku_id, qty), q in zip(cart.lines, quotes, strict=True):
        unit, source = schedules.get(sku_id, (q.unit_price_fen, "listing"))
        is_special = special is not None and special.sku_id == sku_id
        if special is not None and is_special:
            if qty > special.max_quantity:
                raise SiyuError("More than the promotion allows.", code="promotion_quantity", status=422,
                                details={"max_quantity": special.max_quantity})
            unit, source = special.unit_price_fen, special.source
        out.append(Line(sku_id=q.sku_id, sku_code=q.sku_code, product_id=q.product_id, title=q.title, quantity=qty,
                        list_unit_fen=q.unit_price_fen, unit_price_fen=unit, source=source, special=is_special))
    if special is not None and not any(ln.special for ln in out):
        raise SiyuError("The cart does not hold the promotion's SKU.", code="promotion_sku_missing", status=422)
    return out, quotes


def _reject(coupon_id: str, code: str, message: str) -> RejectedCoupon:
    return RejectedCoupon(coupon_id=coupon_id, code=code, message=message)


def _coupon_checks(session: Session, cart: Cart, perks: MemberBenefits, at: datetime
                   ) -> tuple[list[tuple[Coupon, CouponTemplate]], list[RejectedCoupon]]:
    persons = set(constituents(session, cart.person_id)) if cart.person_id else set()
    usable: list[tuple[Coupon, CouponTemplate]] = []
    rejected: list[RejectedCoupon] = []
    groups: set[str] = set()
    new_member: bool | None = None
    wanted = list(dict.fromkeys(cart.coupons))
    held = {c.id: c for c in session.scalars(select(Coupon).where(Coupon.id.in_(wanted)))} if wanted else {}
    kinds = {t.id: t for t in session.scalars(select(CouponTemplate).where(
        CouponTemplate.id.in_({c.template_id for c in held.values()})))} if held else {}
    for cid in wanted:
        c = held.get(cid)
        t = kinds.get(c.template_id) if c is not None else None
        if c is None or t is None or c.person_id not in persons:
            rejected.append(_reject(cid, "coupon_not_found", "No such coupon for this customer."))
        elif c.status != "available":
            rejected.append(_reject(cid, "coupon_in_use", f"The coupon is {c.status}."))
        elif not c.valid_from <= at < c.valid_until:
            rejected.append(_reject(cid, "coupon_expired", "The coupon is not valid at this time."))
        elif t.channels and cart.channel not in t.channels:
            rejected.append(_reject(cid, "coupon_wrong_channel", f"Only in {', '.join(t.channels)}."))
        elif t.tiers and perks.tier not in t.tiers:
            rejected.append(_reject(cid, "coupon_wrong_tier", f"Only for {', '.join(t.tiers)} members."))
        elif t.stacking_group in groups:
            rejected.append(_reject(cid, "coupon_not_stackable", "Another coupon of its group is used."))
        else:
            if t.new_members_only:
                new_member = not (cart.person_id and coupons.has_paid_order(session, cart.person_id)) \
                    if new_member is None else new_member
                if not new_member:
                    rejected.append(_reject(cid, "coupon_new_members_only", "Only for a first order."))
                    continue
            groups.add(t.stacking_group)
            usable.append((c, t))
    usable.sort(key=lambda ct: (0 if ct[1].sku_ids else 1, KIND_ORDER[CouponKind(ct[1].kind)], ct[1].id))
    return usable, rejected


def allocate(amount: int, weights: Sequence[int]) -> list[int]:
    """Split ``amount`` over weights exactly (largest remainder; ties to the earlier line)."""
    total = sum(weights)
    if total <= 0 or amount <= 0:
        return [0] * len(weights)
    shares = [amount * w // total for w in weights]
    rest = amount - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i))
    for i in order[:rest]:
        shares[i] += 1
    return shares


def price(session: Session, cart: Cart, at: datetime) -> Priced:
    with remembered(session):  # who the customer is: asked by the benefits, the coupons and the new-member check
        return _price(session, cart, at)


def _price(session: Session, cart: Cart, at: datetime) -> Priced:
    perks = benefits.for_person(session, cart.person_id) if cart.person_id else benefits.NONE
    lines, quotes = _lines(session, cart, perks, at)
    currency = catalog.check_currency(quotes)
    adjustments: list[AdjustmentOut] = []
    # 2. tier discount
    for ln in lines:
        if not ln.special and perks.discount_bp:
            d = ln.amount * perks.discount_bp // 10000
            ln.discount_fen += d
            adjustments.append(AdjustmentOut(kind="tier", ref=perks.tier, amount_fen=d, sku_id=ln.sku_id))
    tier_total = sum(ln.discount_fen for ln in lines)
    # 3. coupons
    usable, rejected = _coupon_checks(session, cart, perks, at)
    applied: list[str] = []
    coupon_discounts: dict[str, int] = {}
    free_shipping = cart.pickup or perks.free_shipping
    for c, t in usable:
        eligible = [ln for ln in lines if not ln.special and (not t.sku_ids or ln.sku_id in t.sku_ids)]
        left = sum(ln.amount - ln.discount_fen for ln in eligible)
        if left < t.threshold_fen or not eligible:
            rejected.append(_reject(c.id, "coupon_threshold_not_met",
                                    f"Needs {t.threshold_fen / 100:.2f} of eligible goods."))
            continue
        if t.kind == CouponKind.free_shipping:
            free_shipping = True
            applied.append(c.id)
            coupon_discounts[c.id] = 0
            continue
        if t.kind == CouponKind.percent:
            d = left * t.percent_bp // 10000
            d = min(d, t.max_discount_fen) if t.max_discount_fen else d
        else:
            d = min(t.amount_fen, left)
        for ln, share in zip(eligible, allocate(d, [ln.amount - ln.discount_fen for ln in eligible]), strict=True):
            ln.discount_fen += share
        applied.append(c.id)
        coupon_discounts[c.id] = d
        adjustments.append(AdjustmentOut(kind="coupon", ref=c.id, amount_fen=d))
    coupon_total = sum(coupon_discounts.values())
    goods = sum(ln.amount - ln.discount_fen for ln in lines)
    # 4. shipping
    pol = policy(session)
    over = pol.free_shipping_over_fen is not None and goods >= pol.free_shipping_over_fen
    shipping = 0 if free_shipping or over else pol.shipping_fee_fen
    # 5. points
    pts, pts_fen = 0, 0
    if cart.points:
        pts, pts_fen = program.points_payment(program.load(session).redemption, goods, cart.points)
        for ln, share in zip(lines, allocate(pts_fen, [ln.amount - ln.discount_fen for ln in lines]), strict=True):
            ln.points_fen = share
        adjustments.append(AdjustmentOut(kind="points", ref=None, amount_fen=pts_fen))
    quote = QuoteOut(
        channel=cart.channel, currency=currency,
        lines=[QuotedLine(sku_id=ln.sku_id, sku_code=ln.sku_code, title=ln.title, quantity=ln.quantity,
                          list_unit_fen=ln.list_unit_fen, unit_price_fen=ln.unit_price_fen, subtotal_fen=ln.amount,
                          discount_fen=ln.discount_fen, total_fen=ln.amount - ln.discount_fen,
                          points_fen=ln.points_fen, price_source=ln.source) for ln in lines],
        subtotal_fen=sum(ln.amount for ln in lines), tier_discount_fen=tier_total, coupon_discount_fen=coupon_total,
        points=pts, points_discount_fen=pts_fen, shipping_fen=shipping, total_fen=goods + shipping - pts_fen,
        coupons_applied=applied, coupons_rejected=rejected, adjustments=adjustments,
        details={"tier": perks.tier, "at": at.isoformat()},
    )
    return Priced(quote=quote, lines=lines, coupon_discounts=coupon_discounts)


