"""Shopping as the Segment e-commerce spec names it, and the state shared by all visits.

Browsing (Products Searched, Product List Viewed, Product Viewed), the cart (Product Added / Removed,
Cart Viewed), checkout (Checkout Started, Coupon Applied, Payment Info Entered, Order Completed) and
refunds (Order Refunded). Money follows Segment: yuan as numbers with currency "CNY"; every order also
carries ``total_fen``, the exact integer amount in fen.
"""

from __future__ import annotations

from typing import Any

from siyu.simulate import brand
from siyu.simulate.brand import Product
from siyu.simulate.model import Person
from siyu.simulate.session import Session
from siyu.simulate.world import GroupBuy, World

WEB_PATHS = {"home": ("/", "山茶集 官方商城"), "list": ("/collections/{cat}", "{cat} - 山茶集"),
             "detail": ("/products/{pid}", "{name} - 山茶集"), "cart": ("/cart", "购物车 - 山茶集"),
             "checkout": ("/checkout", "结算 - 山茶集"), "account": ("/account/login", "登录 - 山茶集"),
             "search": ("/search", "搜索 - 山茶集")}
APP_SCREEN = {"home": "首页", "list": "分类", "detail": "商品详情", "cart": "购物车", "checkout": "确认订单",
              "account": "登录", "search": "搜索", "groupbuy": "拼团"}


def yuan(fen: int) -> float:
    return fen / 100


def nav(s: Session, kind: str, product: Product | None = None, category: str | None = None,
        search: str = "", referrer: str | None = None, campaign: dict[str, str] | None = None) -> None:
    """Show a page (website, mini-program) or screen (APP)."""
    props: dict[str, Any] = {}
    if product is not None:
        props = {"product_id": product.product_id, "category": product.category}
    elif category is not None:
        props = {"category": category}
    if s.ch == "app":
        s.screen(APP_SCREEN[kind], props)
        return
    if s.ch == "miniprogram":
        path, title = brand.MP_PAGES.get(kind, brand.MP_PAGES["home"])
        query = f"id={product.product_id}" if product is not None else ""
        s.ctx = {**s.base_ctx, "page": {"path": path, "title": title, "search": query}}
        s.page(title, props)
        return
    path, title = WEB_PATHS[kind]
    path = path.format(cat=brand.CATEGORY_SLUGS.get(category or "", ""),
                       pid=product.product_id if product else "")
    title = title.format(cat=category or "", name=product.name if product else "")
    url = brand.SITE + path + search
    page = {"path": path, "referrer": referrer if referrer is not None else (s.last_url or ""),
            "search": search, "title": title, "url": url}
    s.ctx = {**s.base_ctx, "page": page}
    if campaign:
        s.ctx["campaign"] = campaign
    s.last_url = url
    s.page(title, props)


def browse(w: World, s: Session, first: Product | None = None, search: str | None = None) -> list[Product]:
    """Search or a category list, then a few product pages. Returns the products viewed."""
    rng = w.rng
    if search is not None:
        s.track("Products Searched", {"query": search})
    if first is None and rng.random() < 0.45:
        cat = rng.choice(brand.CATEGORIES)
        nav(s, "list", category=cat)
        items = [p for p in brand.PRODUCTS if p.category == cat][:4]
        s.track("Product List Viewed", {"list_id": f"cat-{cat}", "category": cat,
                                        "products": [p.props(position=i + 1) for i, p in enumerate(items)]})
        first = rng.choice(items)
    viewed = [first] if first is not None else []
    while len(viewed) < 6 and (not viewed or rng.random() < 0.45):
        viewed.append(w.product())
    for product in viewed:
        nav(s, "detail", product)
        s.track("Product Viewed", {**product.props(), "currency": "CNY"})
    return viewed


def shop(w: World, s: Session, viewed: list[Product]) -> None:
    """Maybe put viewed products in the cart, and maybe check out."""
    rng = w.rng
    cart = [(p, rng.choice((1, 1, 1, 2))) for p in viewed if rng.random() < 0.22]
    if not cart:
        return
    cart_id = "cart-" + format(rng.getrandbits(48), "012x")
    for p, q in cart:
        s.track("Product Added", {"cart_id": cart_id, **p.props(quantity=q)})
    if len(cart) >= 2 and rng.random() < 0.2:
        p, q = cart.pop(rng.randrange(len(cart)))
        s.track("Product Removed", {"cart_id": cart_id, **p.props(quantity=q)})
    if rng.random() < 0.6:
        nav(s, "cart")
        s.track("Cart Viewed", {"cart_id": cart_id, "products": [p.props(quantity=q) for p, q in cart]})
    if rng.random() < 0.55:
        checkout(w, s, cart, cart_id)


def ready_to_pay(w: World, s: Session) -> bool:
    """Web and APP need a member login or a guest's details before paying; WeChat Pay needs only the OpenID."""
    plan = s.plan
    if plan.identified or (s.ch == "miniprogram" and plan.mode != "member"):
        return True
    if plan.mode == "anonymous":
        return False
    if s.ch == "miniprogram" and w.rng.random() < 0.5:
        return True
    if plan.mode == "member":
        nav(s, "account")
    s.login(w.registered)
    return True


def checkout(w: World, s: Session, cart: list[tuple[Product, int]], cart_id: str,
             group_buy: GroupBuy | None = None) -> None:
    rng = w.rng
    if not ready_to_pay(w, s):
        return
    order_id = w.order_id(s.t)
    checkout_id = "co-" + format(rng.getrandbits(48), "012x")
    price = {p.product_id: p.price_fen * 8 // 10 if group_buy else p.price_fen for p, _ in cart}
    products = [{**p.props(quantity=q), "price": yuan(price[p.product_id])} for p, q in cart]
    subtotal = sum(price[p.product_id] * q for p, q in cart)
    nav(s, "checkout")
    s.track("Checkout Started", {"checkout_id": checkout_id, "order_id": order_id, "value": yuan(subtotal),
                                 "revenue": yuan(subtotal), "currency": "CNY", "products": products})
    discount, coupon = 0, None
    if group_buy is None and rng.random() < 0.18:
        coupon, name, discount = rng.choice(brand.COUPONS)
        discount = min(discount, subtotal - 100)
        s.track("Coupon Applied", {"order_id": order_id, "cart_id": cart_id, "coupon_id": coupon,
                                   "coupon_name": name, "discount": yuan(discount)})
    if rng.random() > 0.85:
        return
    method = rng.choice(brand.PAYMENT_METHODS[s.ch])
    s.track("Payment Info Entered", {"checkout_id": checkout_id, "order_id": order_id, "payment_method": method})
    if rng.random() > 0.93:
        return
    shipping = 0 if subtotal >= 9900 else 1000
    total = subtotal - discount + shipping
    props: dict[str, Any] = {
        "checkout_id": checkout_id, "order_id": order_id, "affiliation": s.ch, "total": yuan(total),
        "subtotal": yuan(subtotal), "revenue": yuan(subtotal - discount), "shipping": yuan(shipping),
        "tax": 0, "discount": yuan(discount), "currency": "CNY", "total_fen": total,
        "payment_method": method, "products": products,
    }
    if coupon:
        props["coupon"] = coupon
    if group_buy is not None:
        props["group_buy_id"] = group_buy.group_buy_id
    s.track("Order Completed", props)
    if rng.random() < 0.05:  # will ask for a refund on a later visit
        s.p.orders.append((order_id, total, s.ch))
    s.count("orders")
    s.count("revenue_fen", total)


def maybe_refund(w: World, s: Session) -> None:
    p: Person = s.p
    if p.refunded < len(p.orders) and w.rng.random() < 0.5:
        order_id, total, _ = p.orders[p.refunded]
        p.refunded += 1
        s.track("Order Refunded", {"order_id": order_id, "total": yuan(total), "total_fen": total,
                                   "currency": "CNY", "reason": w.rng.choice(["quality", "late", "changed_mind"])})
        s.count("refunds")
