"""Catalog operations: products, SKUs, listings, locations and stock levels, and the quote orders use.

A quote is the only way orders learn a price: the channel listing at that moment. A price sent by a client
is never read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.catalog.errors import (
    CategoryNotFound,
    DuplicateCode,
    LocationNotFound,
    MixedCurrencies,
    NoLongerAvailable,
    NotAvailableYet,
    NotSoldInChannel,
    ProductNotFound,
    SkuNotFound,
    StockBelowReserved,
    TierOnly,
)
from siyu.catalog.models import Category, Listing, Location, Product, Sku, Stock
from siyu.catalog.schemas import (
    CategoryIn,
    ListingIn,
    LocationIn,
    ProductIn,
    ProductUpdate,
    SkuIn,
)
from siyu.db import affected, get_or_raise, upsert
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id


# -- categories and locations -------------------------------------------------------------------------------
def create_category(session: Session, body: CategoryIn) -> Category:
    if body.parent_id is not None and session.get(Category, body.parent_id) is None:
        raise CategoryNotFound(details={"category_id": body.parent_id})
    c = Category(id=new_id(), name=body.name, parent_id=body.parent_id, created_at=utcnow())
    session.add(c)
    session.flush()
    return c


def list_categories(session: Session) -> Sequence[Category]:
    return session.scalars(select(Category).order_by(Category.name, Category.id)).all()


def create_location(session: Session, body: LocationIn) -> Location:
    if session.scalar(select(Location.id).where(Location.code == body.code)) is not None:
        raise DuplicateCode(details={"code": body.code})
    loc = Location(id=new_id(), created_at=utcnow(), **body.model_dump(mode="json"))
    session.add(loc)
    session.flush()
    return loc


def list_locations(session: Session) -> Sequence[Location]:
    return session.scalars(select(Location).order_by(Location.priority, Location.code)).all()


def get_location(session: Session, location_id: str) -> Location:
    return get_or_raise(session, Location, location_id, LocationNotFound, "location_id")


# -- products, SKUs and listings ----------------------------------------------------------------------------
def create_product(session: Session, body: ProductIn) -> Product:
    if body.category_id is not None and session.get(Category, body.category_id) is None:
        raise CategoryNotFound(details={"category_id": body.category_id})
    codes = [s.code for s in body.skus]
    if len(set(codes)) != len(codes):
        raise DuplicateCode("Two SKUs of the product have the same code.", details={"codes": codes})
    now = utcnow()
    data = body.model_dump(mode="json", exclude={"skus"})
    product = Product(id=new_id(), active=True, created_at=now, updated_at=now, **data)
    session.add(product)
    session.flush()
    for sku in body.skus:
        add_sku(session, product.id, sku)
    return product


def update_product(session: Session, product_id: str, body: ProductUpdate) -> Product:
    product = get_product(session, product_id)
    changes = body.model_dump(mode="json", exclude_unset=True)
    if changes.get("category_id") is not None and session.get(Category, changes["category_id"]) is None:
        raise CategoryNotFound(details={"category_id": changes["category_id"]})
    for key, value in changes.items():
        setattr(product, key, value)
    product.updated_at = utcnow()
    session.flush()
    return product


def get_product(session: Session, product_id: str) -> Product:
    return get_or_raise(session, Product, product_id, ProductNotFound, "product_id")


def add_sku(session: Session, product_id: str, body: SkuIn) -> Sku:
    get_product(session, product_id)
    if session.scalar(select(Sku.id).where(Sku.code == body.code)) is not None:
        raise DuplicateCode(details={"code": body.code})
    sku = Sku(id=new_id(), product_id=product_id, code=body.code, name=body.name, attributes=body.attributes,
              images=[str(u) for u in body.images], active=True, created_at=utcnow())
    session.add(sku)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent request took the code
        raise DuplicateCode(details={"code": body.code}) from exc
    for channel, listing in body.listings.items():
        set_listing(session, sku.id, channel.value, listing)
    return sku


def get_sku(session: Session, sku_id: str) -> Sku:
    return get_or_raise(session, Sku, sku_id, SkuNotFound, "sku_id")


def sku_by_code(session: Session, code: str) -> Sku:
    sku = session.scalar(select(Sku).where(Sku.code == code))
    if sku is None:
        raise SkuNotFound(details={"sku_code": code})
    return sku


def set_listing(session: Session, sku_id: str, channel: str, body: ListingIn) -> Listing:
    get_sku(session, sku_id)
    listing = session.get(Listing, (sku_id, channel))
    values = body.model_dump()
    if listing is None:
        listing = Listing(sku_id=sku_id, channel=channel, updated_at=utcnow(), **values)
        session.add(listing)
    else:
        for key, value in values.items():
            setattr(listing, key, value)
        listing.updated_at = utcnow()
    session.flush()
    return listing


def skus_of(session: Session, product_ids: Sequence[str]) -> dict[str, list[Sku]]:
    out: dict[str, list[Sku]] = {p: [] for p in product_ids}
    for sku in session.scalars(select(Sku).where(Sku.product_id.in_(product_ids)).order_by(Sku.code)):
        out[sku.product_id].append(sku)
    return out


def listings_of(session: Session, sku_ids: Sequence[str]) -> dict[str, list[Listing]]:
    out: dict[str, list[Listing]] = {s: [] for s in sku_ids}
    for listing in session.scalars(select(Listing).where(Listing.sku_id.in_(sku_ids)).order_by(Listing.channel)):
        out[listing.sku_id].append(listing)
    return out


def on_sale(listing: Listing, at: datetime) -> bool:
    return listing.visible and (listing.available_from is None or listing.available_from <= at) and (
        listing.available_until is None or at < listing.available_until)


def list_products(session: Session, channel: str | None, after: str | None, limit: int,
                  category_id: str | None = None, at: datetime | None = None) -> Sequence[Product]:
    """Products by id; with ``channel``, only active products with a SKU on sale there now (a storefront)."""
    q = select(Product).order_by(Product.id).limit(limit)
    if after:
        q = q.where(Product.id > after)
    if category_id:
        q = q.where(Product.category_id == category_id)
    if channel is not None:
        now = at or utcnow()
        on = (select(Sku.product_id).join(Listing, Listing.sku_id == Sku.id)
              .where(Listing.channel == channel, Listing.visible.is_(True), Sku.active.is_(True),
                     or_(Listing.available_from.is_(None), Listing.available_from <= now),
                     or_(Listing.available_until.is_(None), Listing.available_until > now)))
        q = q.where(Product.active.is_(True), Product.id.in_(on))
    return session.scalars(q).all()


# -- stock levels -------------------------------------------------------------------------------------------
def set_stock(session: Session, sku_id: str, location_id: str, on_hand: int) -> Stock:
    """Set on-hand stock (a count). Refused below what open orders have reserved."""
    get_sku(session, sku_id)
    get_location(session, location_id)
    stmt = upsert(session, Stock).values(sku_id=sku_id, location_id=location_id, on_hand=on_hand, reserved=0,
                                          updated_at=utcnow())
    stmt = stmt.on_conflict_do_update(index_elements=["sku_id", "location_id"],
                                      set_={"on_hand": on_hand, "updated_at": utcnow()},
                                      where=Stock.reserved <= on_hand)
    if session.execute(stmt.returning(Stock.sku_id)).first() is None:
        row = session.get(Stock, (sku_id, location_id))
        raise StockBelowReserved(details={"reserved": row.reserved if row else None})
    row = session.get(Stock, (sku_id, location_id), populate_existing=True)
    assert row is not None
    return row


def adjust_stock(session: Session, sku_id: str, location_id: str, delta: int) -> Stock:
    """Add (receipt) or remove (damage, count correction) stock, never below what is reserved."""
    if delta >= 0:
        stmt = (update(Stock).where(Stock.sku_id == sku_id, Stock.location_id == location_id)
                .values(on_hand=Stock.on_hand + delta, updated_at=utcnow()))
        set_or_add = affected(session.execute(stmt))
        if not set_or_add:
            return set_stock(session, sku_id, location_id, delta)
    else:
        done = affected(session.execute(update(Stock).where(Stock.sku_id == sku_id, Stock.location_id == location_id,
                                                   Stock.on_hand + delta >= Stock.reserved)
                               .values(on_hand=Stock.on_hand + delta, updated_at=utcnow())))
        if not done:
            raise StockBelowReserved(details={"sku_id": sku_id, "location_id": location_id, "delta": delta})
    row = session.get(Stock, (sku_id, location_id), populate_existing=True)
    assert row is not None
    return row


def stock_of(session: Session, sku_id: str) -> Sequence[Stock]:
    get_sku(session, sku_id)
    return session.scalars(select(Stock).where(Stock.sku_id == sku_id).order_by(Stock.location_id)).all()


# -- quotes for orders --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Quote:
    sku_id: str
    sku_code: str
    product_id: str
    title: str
    unit_price_fen: int
    currency: str


def quotes(session: Session, channel: str, sku_ids: Sequence[str], at: datetime,
           allowed_tiers: frozenset[str] = frozenset(),
           opens_early: Mapping[str, datetime] | None = None) -> list[Quote]:
    """The price of each SKU in ``channel`` at ``at`` (in order; two queries for any number), or why the first
    that cannot be bought there cannot. ``allowed_tiers``: the membership tiers whose gates the buyer passes
    (a tier-only listing needs its tier among them); ``opens_early``: per SKU, when this buyer may start
    buying it (presale early access), if before the listing's ``available_from``."""
    wanted = list(dict.fromkeys(sku_ids))
    skus = {row[0].id: (row[0], row[1], row[2]) for row in session.execute(
        select(Sku, Product.title, Product.active).join(Product, Product.id == Sku.product_id)
        .where(Sku.id.in_(wanted)))}
    listings = {ls.sku_id: ls for ls in session.scalars(
        select(Listing).where(Listing.sku_id.in_(wanted), Listing.channel == channel))}
    return [_quote(sku_id, channel, at, skus.get(sku_id), listings.get(sku_id), allowed_tiers,
                   (opens_early or {}).get(sku_id)) for sku_id in sku_ids]


def _quote(sku_id: str, channel: str, at: datetime, row: tuple[Sku, str, bool] | None, listing: Listing | None,
           allowed_tiers: frozenset[str], opens_early: datetime | None) -> Quote:
    if row is None:
        raise SkuNotFound(details={"sku_id": sku_id})
    sku, title, product_active = row
    if listing is None or not listing.visible or not sku.active or not product_active:
        raise NotSoldInChannel(details={"sku_id": sku_id, "channel": channel})
    opens = listing.available_from
    if opens is not None and opens_early is not None:
        opens = min(opens, opens_early)
    if opens is not None and at < opens:
        raise NotAvailableYet(details={"sku_id": sku_id, "channel": channel,
                                       "available_from": opens.isoformat()})
    if listing.available_until is not None and at >= listing.available_until:
        raise NoLongerAvailable(details={"sku_id": sku_id, "channel": channel})
    if listing.min_tier is not None and listing.min_tier not in allowed_tiers:
        raise TierOnly(details={"sku_id": sku_id, "min_tier": listing.min_tier})
    name = f"{title} {sku.name}".strip()
    return Quote(sku_id=sku.id, sku_code=sku.code, product_id=sku.product_id, title=name,
                 unit_price_fen=listing.price_fen, currency=listing.currency)


def check_currency(quotes: Sequence[Quote]) -> str:
    currencies = {q.currency for q in quotes}
    if len(currencies) > 1:
        raise MixedCurrencies(details={"currencies": sorted(currencies)})
    return currencies.pop() if currencies else "CNY"
