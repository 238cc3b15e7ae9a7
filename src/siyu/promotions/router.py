from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import RootModel

from siyu.auth.errors import NotYourData, ScopeRequired
from siyu.auth.schemas import Role, Scope
from siyu.auth.service import Principal
from siyu.catalog import service as catalog
from siyu.deps import IdempotencyKey, OperatorDep, PrincipalDep, SessionDep, claim_idempotency, remember_answer
from siyu.identity.anchors import constituents, same_person
from siyu.identity.service import current
from siyu.kit.clock import utcnow
from siyu.loyalty import benefits
from siyu.promotions import coupons, pricing, schedules
from siyu.promotions.models import Coupon, CouponTemplate
from siyu.promotions.schemas import (
    ClaimRequest,
    CouponOut,
    EarlyAccessIn,
    EarlyAccessOut,
    GrantManyRequest,
    GrantRequest,
    QuoteOut,
    QuoteRequest,
    ScheduleIn,
    ScheduleOut,
    TemplateIn,
    TemplateOut,
)

router = APIRouter(prefix="/api/v1/promotions", tags=["promotions"])


def _member(p: Principal) -> str | None:
    return p.person_id if p.role is Role.member else None


def _whose(session: SessionDep, p: Principal, person_id: str | None) -> str | None:
    """A member's own person; or, for ``promotions:write`` callers, the person they name (or nobody)."""
    own = _member(p)
    if own is not None:
        if person_id is not None and not same_person(session, person_id, own):
            raise NotYourData()
        return current(session, own)
    if not p.has(Scope.promotions_write) and not p.has(Scope.orders_write):
        raise ScopeRequired(details={"scope": Scope.promotions_write.value})
    return current(session, person_id) if person_id else None


def template_out(t: CouponTemplate) -> TemplateOut:
    return TemplateOut.model_validate(t, from_attributes=True)


def coupon_out(session: SessionDep, c: Coupon) -> CouponOut:
    t = coupons.get_template(session, c.template_id)
    return CouponOut(id=c.id, template_id=c.template_id, name=t.name, kind=t.kind, person_id=c.person_id,
                     status=c.status, source=c.source, issued_at=c.issued_at, valid_from=c.valid_from,
                     valid_until=c.valid_until, locked_order_id=c.locked_order_id,
                     redeemed_order_id=c.redeemed_order_id, discount_fen=c.discount_fen)


@router.post("/coupon-templates", status_code=201, response_model=TemplateOut)
def create_template(body: TemplateIn, session: SessionDep, _: OperatorDep) -> TemplateOut:
    """A coupon template: value, threshold (满减), validity, channel / tier / new-member limits, per-member
    limit, total quantity and stacking group."""
    return template_out(coupons.create_template(session, body))


@router.get("/coupon-templates", response_model=list[TemplateOut])
def list_templates(session: SessionDep, _: PrincipalDep, claimable: bool = False) -> list[TemplateOut]:
    return [template_out(t) for t in coupons.templates(session, claimable, utcnow())]


@router.post("/coupon-templates/{template_id}/claim", status_code=201, response_model=CouponOut)
def claim(template_id: str, body: ClaimRequest, session: SessionDep, p: PrincipalDep,
          key: IdempotencyKey = None) -> Response | CouponOut:
    """A member claims a coupon, in the channel they are in (a channel-only coupon needs that channel)."""
    if (replay := claim_idempotency(session, p, f"coupons.claim:{template_id}", key, body)) is not None:
        return replay
    person = _member(p)
    if person is None:
        raise NotYourData("Claiming is for members; operators grant coupons.")
    person = current(session, person)
    tier = benefits.for_person(session, person).tier
    out = coupon_out(session, coupons.claim(session, template_id, person, body.channel.value, utcnow(), tier))
    remember_answer(session, p, f"coupons.claim:{template_id}", key, 201, out)
    return out


@router.post("/coupon-templates/{template_id}/grant", status_code=201, response_model=CouponOut)
def grant(template_id: str, body: GrantRequest, session: SessionDep, p: PrincipalDep,
          key: IdempotencyKey = None) -> Response | CouponOut:
    """An operator or brand server gives a customer a coupon (within the template's total and limit)."""
    if (replay := claim_idempotency(session, p, f"coupons.grant:{template_id}", key, body)) is not None:
        return replay
    if _member(p) is not None or not p.has(Scope.promotions_write):
        raise ScopeRequired(details={"scope": Scope.promotions_write.value})
    (c,) = coupons.grant(session, template_id, [current(session, body.person_id)], now=utcnow(), reason=body.reason)
    out = coupon_out(session, c)
    remember_answer(session, p, f"coupons.grant:{template_id}", key, 201, out)
    return out


@router.post("/coupon-templates/{template_id}/grants", status_code=201, response_model=list[CouponOut])
def grant_many(template_id: str, body: GrantManyRequest, session: SessionDep, p: PrincipalDep,
               key: IdempotencyKey = None) -> Response | list[CouponOut]:
    """An operator or brand server gives each of several customers a coupon, all or none: if any of them
    would pass the template's total or per-member limit, the answer is that refusal and nobody gets one."""
    if (replay := claim_idempotency(session, p, f"coupons.grants:{template_id}", key, body)) is not None:
        return replay
    if _member(p) is not None or not p.has(Scope.promotions_write):
        raise ScopeRequired(details={"scope": Scope.promotions_write.value})
    issued = coupons.grant(session, template_id, [current(session, pid) for pid in body.person_ids], now=utcnow(),
                           reason=body.reason)
    out = [coupon_out(session, c) for c in issued]
    remember_answer(session, p, f"coupons.grants:{template_id}", key, 201, RootModel[list[CouponOut]](out))
    return out


@router.get("/coupons", response_model=list[CouponOut])
def my_coupons(session: SessionDep, p: PrincipalDep, person_id: str | None = None,
               status: str | None = None) -> list[CouponOut]:
    """A member's coupons (or, for operators and servers, a named customer's)."""
    person = _whose(session, p, person_id)
    if person is None:
        raise NotYourData("Say whose coupons: person_id.")
    return [coupon_out(session, c) for c in coupons.of_persons(session, constituents(session, person), status)]


@router.post("/pricing/quote", response_model=QuoteOut)
def quote(body: QuoteRequest, session: SessionDep, p: PrincipalDep) -> QuoteOut:
    """A dry run of the pricing engine: what this cart would cost now (or at ``at``), line by line, with
    every discount and why a coupon does not apply. Nothing is reserved or locked."""
    person = _whose(session, p, body.person_id)
    if body.at is not None and p.role not in (Role.admin, Role.operator):
        raise ScopeRequired("Only operators price a cart at another time.")
    lines = [(ln.sku_id if ln.sku_id else catalog.sku_by_code(session, str(ln.sku_code)).id, ln.quantity)
             for ln in body.lines]
    cart = pricing.Cart(channel=body.channel.value, person_id=person, lines=lines, coupons=list(body.coupons),
                        points=body.points, promotion=(body.promotion.kind, body.promotion.id) if body.promotion
                        else None, pickup=body.pickup)
    return pricing.price(session, cart, body.at or utcnow()).quote


@router.post("/price-schedules", status_code=201, response_model=ScheduleOut)
def add_schedule(body: ScheduleIn, session: SessionDep, _: OperatorDep) -> ScheduleOut:
    """A time-based price (early-bird, presale stage) for a SKU in a channel."""
    row = schedules.add_schedule(session, body)
    return ScheduleOut(id=row.id, sku_id=row.sku_id, channel=body.channel, starts_at=row.starts_at,
                       ends_at=row.ends_at, price_fen=row.price_fen, label=row.label)


@router.post("/early-access", response_model=EarlyAccessOut)
def early_access(body: EarlyAccessIn, session: SessionDep, _: OperatorDep) -> EarlyAccessOut:
    """Members of ``tier`` or higher may buy the SKU in ``channel`` from ``opens_at`` (before its listing
    opens): e.g. APP diamond members four hours early."""
    row = schedules.set_early_access(session, body)
    return EarlyAccessOut(id=row.id, sku_id=row.sku_id, channel=body.channel, tier=row.tier, opens_at=row.opens_at)
