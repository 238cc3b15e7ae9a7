"""The simulated brand: 山茶集 (Shancha), a tea brand with a mini-program, a website and an APP.

Static data only (catalog, traffic sources, devices, names); nothing here draws random numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from siyu.simulate.model import Weighted

BRAND = "山茶集"
SITE = "https://www.shancha.example"


@dataclass(frozen=True)
class Product:
    product_id: str
    sku: str
    name: str
    category: str
    price_fen: int

    @property
    def price(self) -> float:
        return self.price_fen / 100

    def props(self, quantity: int | None = None, position: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"product_id": self.product_id, "sku": self.sku, "name": self.name,
                               "category": self.category, "brand": BRAND, "price": self.price}
        if quantity is not None:
            out["quantity"] = quantity
        if position is not None:
            out["position"] = position
        return out


_CATALOG: list[tuple[str, str, list[tuple[str, int]]]] = [
    ("绿茶", "LC", [("明前西湖龙井 50g", 16800), ("碧螺春 100g", 12800), ("黄山毛峰 100g", 8900),
                   ("安吉白茶 50g", 15800), ("信阳毛尖 100g", 9900), ("六安瓜片 100g", 11800)]),
    ("乌龙茶", "WL", [("铁观音 清香型 125g", 9800), ("大红袍 100g", 15800), ("凤凰单丛 鸭屎香 100g", 13800),
                     ("冻顶乌龙 150g", 12800), ("东方美人 50g", 18800)]),
    ("红茶", "HC", [("正山小种 100g", 8800), ("金骏眉 50g", 19800), ("滇红 金芽 100g", 9800),
                   ("祁门红茶 100g", 10800)]),
    ("普洱白茶", "PE", [("普洱熟茶 357g 饼", 16800), ("普洱生茶 357g 饼", 25800), ("福鼎白牡丹 100g", 12800),
                      ("老白茶 寿眉 饼 300g", 19800)]),
    ("花草茶", "HT", [("茉莉花茶 100g", 5800), ("桂花乌龙 冷泡 10袋", 3990), ("蜜桃乌龙 冷泡 10袋", 3990),
                     ("玫瑰红茶 三角包 15袋", 4590), ("柠檬红茶 冷泡 10袋", 3590)]),
    ("茶具", "CJ", [("青瓷盖碗套装", 26800), ("便携旅行茶具", 15900), ("玻璃公道杯", 4900),
                   ("冷泡茶壶 1L", 6900), ("紫砂壶 西施", 39800)]),
    ("礼盒", "LH", [("中秋茶礼盒", 39800), ("龙井礼盒 250g", 68800), ("新年红茶礼盒", 29800),
                   ("茶点礼盒", 16800)]),
    ("茶点", "CD", [("绿豆糕 12枚", 3980), ("凤梨酥 10枚", 4980), ("桂花糕 8枚", 2990), ("牛轧糖 300g", 3590)]),
]

PRODUCTS: list[Product] = [
    Product(f"P{ci + 1:02d}{pi + 1:02d}", f"SC-{code}-{pi + 1:03d}", name, category, price)
    for ci, (category, code, items) in enumerate(_CATALOG)
    for pi, (name, price) in enumerate(items)
]
CATEGORIES: list[str] = [c for c, _, _ in _CATALOG]
CATEGORY_SLUGS = dict(zip(CATEGORIES, ["green-tea", "oolong", "black-tea", "puer-white-tea", "flower-tea",
                                       "teaware", "gift-boxes", "snacks"], strict=True))
# Cheaper products sell more.
POPULAR = Weighted(PRODUCTS, [1.0 / (p.price_fen / 5000) ** 0.7 for p in PRODUCTS])

COUPONS: list[tuple[str, str, int]] = [  # (coupon id, name, discount fen)
    ("CPN-NEW20", "新人立减20元", 2000),
    ("CPN-MB10", "会员专享10元", 1000),
    ("CPN-FULL50", "满299减50", 5000),
    ("CPN-TEA15", "茶具日15元券", 1500),
]
PAYMENT_METHODS = {"miniprogram": ["wechat_pay"], "web": ["alipay", "wechat_pay", "unionpay"],
                   "app": ["wechat_pay", "alipay", "apple_pay"]}

SEARCH_TERMS = ["龙井", "明前茶", "铁观音", "大红袍", "普洱", "白茶", "冷泡茶", "茶具 套装", "盖碗",
                "送礼 茶叶", "中秋礼盒", "红茶 推荐", "花茶", "茶点", "tea gift", "oolong tea"]

# Where website visits come from: (weight, referrer host, utm source, utm medium or None for no UTM).
WEB_SOURCES: list[tuple[float, str | None, str | None, str | None]] = [
    (30, "https://www.baidu.com/", "baidu", "cpc"),
    (12, "https://www.baidu.com/", None, None),  # organic search: referrer only
    (8, "https://cn.bing.com/", "bing", "cpc"),
    (5, "https://www.sogou.com/", "sogou", "cpc"),
    (4, "https://www.so.com/", "360", "cpc"),
    (10, "https://www.xiaohongshu.com/", "xiaohongshu", "social"),
    (7, "https://www.zhihu.com/", "zhihu", "social"),
    (5, "https://weibo.com/", "weibo", "social"),
    (4, "https://www.douyin.com/", "douyin", "video"),
    (6, None, "newsletter", "email"),
    (9, None, None, None),  # direct
]
WEB_SOURCE = Weighted(WEB_SOURCES, [w for w, *_ in WEB_SOURCES])
CAMPAIGNS = {"cpc": ["spring_tea_2026", "brand_keywords", "gift_season"], "social": ["kol_review", "tea_notes"],
             "video": ["live_tasting"], "email": ["weekly_picks", "member_day"]}
AD_CONTENT = ["banner_a", "banner_b", "text_1", "text_2"]

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; V2307A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
]

# (manufacturer, model, type, os name, os versions)
DEVICES: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    ("Apple", "iPhone15,3", "ios", "iOS", ("17.4", "17.5", "18.0")),
    ("Apple", "iPhone14,5", "ios", "iOS", ("16.7", "17.4", "17.5")),
    ("Apple", "iPad13,18", "ios", "iPadOS", ("17.4", "18.0")),
    ("HUAWEI", "ALN-AL00", "android", "HarmonyOS", ("4.0", "4.2")),
    ("Xiaomi", "23127PN0CC", "android", "Android", ("14",)),
    ("OPPO", "PHZ110", "android", "Android", ("13", "14")),
    ("vivo", "V2307A", "android", "Android", ("14",)),
    ("HONOR", "PGT-AN10", "android", "Android", ("14",)),
]
TABLET = ("Apple", "iPad13,18", "ios", "iPadOS", ("17.4", "18.0"))

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超",
         "秀英", "桂英", "晓东", "雨涵", "子轩", "梓萱", "浩然", "欣怡", "思远"]
EMAIL_HOSTS = ["qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "foxmail.com", "sina.com"]
PINYIN = ["wei", "fang", "na", "min", "jing", "li", "qiang", "lei", "yang", "yan", "yong", "jun", "jie",
          "tao", "ming", "chao", "xiao", "yu", "hao", "xin", "tea", "cha", "lin", "chen", "zhang", "wang"]

# WeChat launch scene values (mini-program): why a session started.
SCENE_SHARE_CHAT = 1007  # a share card in a one-to-one chat
SCENE_SHARE_GROUP = 1008  # a share card in a group chat
SCENE_SHARE_TICKET = 1044  # a share card with shareTicket (group buys)
SCENE_QR = 1011  # scanned a QR code
SCENE_MP_CODE = 1047  # scanned a mini-program code (in-store posters, packaging)
SCENE_RECENT = 1089  # the recent-use list (pull down on the chat list)
SCENE_DISCOVER = 1001  # Discover > Mini Programs
SCENE_SEARCH = 1053  # WeChat search results
SCENE_OFFICIAL_ACCOUNT = 1035  # the official account's custom menu
RETURN_SCENE = Weighted([SCENE_RECENT, SCENE_DISCOVER, SCENE_OFFICIAL_ACCOUNT, SCENE_SEARCH, SCENE_MP_CODE],
                        [45, 20, 15, 10, 10])
FIRST_SCENE = Weighted([SCENE_QR, SCENE_MP_CODE, SCENE_SEARCH, SCENE_OFFICIAL_ACCOUNT, SCENE_DISCOVER],
                       [25, 25, 25, 15, 10])

MP_PAGES = {"home": ("pages/index/index", "首页"), "list": ("pages/category/list", "分类"),
            "detail": ("pages/goods/detail", "商品详情"), "cart": ("pages/cart/cart", "购物车"),
            "groupbuy": ("pages/groupbuy/detail", "拼团"), "member": ("pages/member/center", "会员中心"),
            "checkout": ("pages/order/confirm", "确认订单"), "account": ("pages/member/login", "登录"),
            "search": ("pages/search/index", "搜索")}
APP_SCREENS = ["首页", "分类", "商品详情", "购物车", "会员中心", "积分商城", "签到", "订单列表", "消息中心"]
PUSH_CAMPAIGNS = ["member_day", "new_arrivals", "points_expiring", "cart_reminder", "flash_sale"]
