"""Each channel's storefront (``GET /catalog/products?channel=``) and what a customer may order there: a
listing hidden in a channel, a window not yet open or already closed, a tier-only listing, an inactive
product."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.orders.shop import ADDRESS, Shop, snapshot


def product(shop: Shop, title: str, code: str, listings: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A product of one SKU with ``listings`` per channel and 10 units in the warehouse."""
    p = shop.admin("POST", "/api/v1/catalog/products", {"title": title, "skus": [{"code": code, "listings": listings}]},
                   status=201)
    shop.skus[code] = p["skus"][0]["id"]
    shop.stock(code, shop.warehouse, 10)
    return p  # type: ignore[no-any-return]


def storefront(shop: Shop, channel: str) -> dict[str, list[tuple[str, str, int, str | None]]]:
    """Title -> (SKU code, listing channel, price, min tier) of each listing the storefront shows."""
    items = shop.admin("GET", f"/api/v1/catalog/products?channel={channel}")["items"]
    return {p["title"]: [(s["code"], x["channel"], x["price_fen"], x["min_tier"]) for s in p["skus"]
                         for x in s["listings"]] for p in items}


def order(shop: Shop, channel: str, code: str) -> Any:
    return shop.member("13800131000").call("POST", "/api/v1/orders", {
        "channel": channel, "lines": [{"sku_code": code, "quantity": 1}], "address": ADDRESS})


def iso(dt: datetime) -> str:
    return dt.isoformat()


def test_each_channel_shows_what_is_on_sale_there_now(shop: Shop) -> None:
    now = datetime.now(UTC)
    app = {"price_fen": 9900}
    product(shop, "常规", "REGULAR", {"miniprogram": {"price_fen": 10900}, "web": {"price_fen": 9900}, "app": app})
    product(shop, "隐藏", "HIDDEN", {"web": {"price_fen": 9900, "visible": False}, "app": app})
    product(shop, "预售", "PRESALE", {"web": {"price_fen": 9900, "available_from": iso(now + timedelta(hours=4))},
                                    "app": {"price_fen": 9900, "available_from": iso(now - timedelta(minutes=1))}})
    product(shop, "已结束", "ENDED", {"web": {"price_fen": 9900, "available_until": iso(now - timedelta(minutes=1))},
                                   "app": {"price_fen": 9900, "available_until": iso(now + timedelta(days=1))}})
    product(shop, "金卡专享", "GOLD", {"web": {"price_fen": 9900, "min_tier": "gold"}, "app": app})

    web = storefront(shop, "web")
    assert web == {"羊毛围巾": [("SCARF-RED", "web", 19900, None)],  # SCARF-APP has no web listing to show
                   "常规": [("REGULAR", "web", 9900, None)],
                   "金卡专享": [("GOLD", "web", 9900, "gold")]}  # shown with its gate; ordering checks it
    assert set(storefront(shop, "app")) == {"羊毛围巾", "常规", "隐藏", "预售", "已结束", "金卡专享"}
    assert storefront(shop, "miniprogram") == {"羊毛围巾": [("SCARF-RED", "miniprogram", 19900, None)],
                                               "常规": [("REGULAR", "miniprogram", 10900, None)]}
    # the whole catalog (no channel) shows every product with every listing
    everything = {p["title"]: p for p in shop.admin("GET", "/api/v1/catalog/products")["items"]}
    assert len(everything) == 6 and len(everything["隐藏"]["skus"][0]["listings"]) == 2

    # what the storefront leaves out cannot be ordered there either, and a refusal writes nothing
    before = snapshot(shop)
    for code, status, error in [("HIDDEN", 422, "sku_not_sold_in_channel"), ("PRESALE", 422, "sku_not_available_yet"),
                                ("ENDED", 422, "sku_no_longer_available"), ("GOLD", 403, "tier_required"),
                                ("SCARF-APP", 422, "sku_not_sold_in_channel")]:
        r = order(shop, "web", code)
        assert r.status_code == status and r.json()["error"]["code"] == error, (code, r.text)
    assert snapshot(shop) == before
    for code in ("HIDDEN", "PRESALE", "ENDED", "GOLD"):  # the APP sells them all now
        assert order(shop, "app", code).status_code == 201, code

    # the presale opens in the web: it appears, and sells
    shop.admin("PUT", f"/api/v1/catalog/skus/{shop.skus['PRESALE']}/listings/web",
               {"price_fen": 9900, "available_from": iso(now - timedelta(seconds=1))})
    assert storefront(shop, "web")["预售"] == [("PRESALE", "web", 9900, None)]
    assert order(shop, "web", "PRESALE").status_code == 201


def test_an_inactive_product_leaves_every_storefront(shop: Shop) -> None:
    p = product(shop, "停售", "RETIRED", {ch: {"price_fen": 500} for ch in ("miniprogram", "web", "app")})
    assert all("停售" in storefront(shop, ch) for ch in ("miniprogram", "web", "app"))
    shop.admin("PATCH", f"/api/v1/catalog/products/{p['id']}", {"active": False})
    assert not any("停售" in storefront(shop, ch) for ch in ("miniprogram", "web", "app"))
    r = order(shop, "app", "RETIRED")
    assert r.status_code == 422 and r.json()["error"]["code"] == "sku_not_sold_in_channel", r.text
    assert shop.admin("GET", f"/api/v1/catalog/products/{p['id']}")["active"] is False
