from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from siyu.catalog import service, views
from siyu.catalog.schemas import (
    CategoryIn,
    CategoryOut,
    ListingIn,
    ListingOut,
    LocationIn,
    LocationOut,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductUpdate,
    SaleChannel,
    SkuIn,
    SkuOut,
    StockAdjust,
    StockOut,
    StockSet,
)
from siyu.deps import CatalogWriter, PrincipalDep, SessionDep

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])


@router.post("/categories", status_code=201, response_model=CategoryOut)
def create_category(body: CategoryIn, session: SessionDep, _: CatalogWriter) -> CategoryOut:
    c = service.create_category(session, body)
    return CategoryOut(id=c.id, name=c.name, parent_id=c.parent_id)


@router.get("/categories", response_model=list[CategoryOut])
def list_categories(session: SessionDep, _: PrincipalDep) -> list[CategoryOut]:
    return [CategoryOut(id=c.id, name=c.name, parent_id=c.parent_id) for c in service.list_categories(session)]


@router.post("/products", status_code=201, response_model=ProductOut)
def create_product(body: ProductIn, session: SessionDep, _: CatalogWriter) -> ProductOut:
    """A product with its SKUs and, per SKU, its listing in each channel (price, visibility, window)."""
    return views.products_out(session, [service.create_product(session, body)])[0]


@router.get("/products", response_model=ProductPage)
def list_products(session: SessionDep, _: PrincipalDep, channel: SaleChannel | None = None,
                  category_id: str | None = None, after: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ProductPage:
    """All products; with ``channel``, that channel's storefront: active products with a SKU on sale there
    now, showing only that channel's listings."""
    items = service.list_products(session, channel.value if channel else None, after, limit + 1, category_id)
    page = items[:limit]
    return ProductPage(items=views.products_out(session, page, channel.value if channel else None),
                       next_cursor=page[-1].id if len(items) > limit and page else None)


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(product_id: str, session: SessionDep, _: PrincipalDep) -> ProductOut:
    """A product with its full parameters, SKUs and every channel's listing."""
    return views.products_out(session, [service.get_product(session, product_id)])[0]


@router.patch("/products/{product_id}", response_model=ProductOut)
def update_product(product_id: str, body: ProductUpdate, session: SessionDep, _: CatalogWriter) -> ProductOut:
    return views.products_out(session, [service.update_product(session, product_id, body)])[0]


@router.post("/products/{product_id}/skus", status_code=201, response_model=SkuOut)
def add_sku(product_id: str, body: SkuIn, session: SessionDep, _: CatalogWriter) -> SkuOut:
    sku = service.add_sku(session, product_id, body)
    return views.sku_out(sku, service.listings_of(session, [sku.id])[sku.id])


@router.put("/skus/{sku_id}/listings/{channel}", response_model=ListingOut)
def set_listing(sku_id: str, channel: SaleChannel, body: ListingIn, session: SessionDep,
                _: CatalogWriter) -> ListingOut:
    """How the SKU is sold in one channel: price (fen), visibility, available from / until."""
    return views.listing_out(service.set_listing(session, sku_id, channel.value, body))


@router.post("/locations", status_code=201, response_model=LocationOut)
def create_location(body: LocationIn, session: SessionDep, _: CatalogWriter) -> LocationOut:
    return views.location_out(service.create_location(session, body))


@router.get("/locations", response_model=list[LocationOut])
def list_locations(session: SessionDep, _: PrincipalDep) -> list[LocationOut]:
    return [views.location_out(x) for x in service.list_locations(session)]


@router.get("/skus/{sku_id}/stock", response_model=list[StockOut])
def get_stock(sku_id: str, session: SessionDep, _: PrincipalDep) -> list[StockOut]:
    return [views.stock_out(x) for x in service.stock_of(session, sku_id)]


@router.put("/stock/{sku_id}/{location_id}", response_model=StockOut)
def set_stock(sku_id: str, location_id: str, body: StockSet, session: SessionDep, _: CatalogWriter) -> StockOut:
    """Set the on-hand count (refused below what open orders have reserved)."""
    return views.stock_out(service.set_stock(session, sku_id, location_id, body.on_hand))


@router.post("/stock/{sku_id}/{location_id}/adjust", response_model=StockOut)
def adjust_stock(sku_id: str, location_id: str, body: StockAdjust, session: SessionDep,
                 _: CatalogWriter) -> StockOut:
    """Receive (+) or write off (-) stock; never below what is reserved."""
    return views.stock_out(service.adjust_stock(session, sku_id, location_id, body.delta))
