"""Database rows -> API schemas."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from siyu.catalog import service
from siyu.catalog.models import Listing, Location, Product, Sku, Stock
from siyu.catalog.schemas import ListingOut, LocationOut, ProductOut, SaleChannel, SkuOut, Spec, StockOut


def listing_out(listing: Listing) -> ListingOut:
    return ListingOut(channel=SaleChannel(listing.channel), price_fen=listing.price_fen,
                      list_price_fen=listing.list_price_fen, currency=listing.currency, visible=listing.visible,
                      available_from=listing.available_from, available_until=listing.available_until,
                      min_tier=listing.min_tier)


def sku_out(sku: Sku, listings: Sequence[Listing]) -> SkuOut:
    return SkuOut(id=sku.id, product_id=sku.product_id, code=sku.code, name=sku.name, attributes=sku.attributes,
                  images=list(sku.images), active=sku.active, listings=[listing_out(x) for x in listings])


def products_out(session: Session, products: Sequence[Product], channel: str | None = None) -> list[ProductOut]:
    """Products with their SKUs and listings (only the channel's listings when a channel is given)."""
    skus = service.skus_of(session, [p.id for p in products])
    listings = service.listings_of(session, [s.id for ss in skus.values() for s in ss])
    out = []
    for p in products:
        sku_views = [sku_out(s, [x for x in listings[s.id] if channel is None or x.channel == channel])
                     for s in skus[p.id]]
        out.append(ProductOut(id=p.id, title=p.title, description=p.description, category_id=p.category_id,
                              brand=p.brand, attributes=p.attributes, specs=[Spec(**x) for x in p.specs],
                              images=list(p.images), active=p.active, created_at=p.created_at,
                              updated_at=p.updated_at, skus=sku_views))
    return out


def location_out(loc: Location) -> LocationOut:
    return LocationOut.model_validate(loc, from_attributes=True)


def stock_out(row: Stock) -> StockOut:
    return StockOut(sku_id=row.sku_id, location_id=row.location_id, on_hand=row.on_hand, reserved=row.reserved,
                    available=row.on_hand - row.reserved)
