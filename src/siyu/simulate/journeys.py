"""What one visit looks like on each channel.

- Mini-program: launched from a share card (scene 1007 one-to-one chat, 1008 group chat, 1044 with
  shareTicket), a group-buy invite, a QR / mini-program code (1011, 1047), search (1053), the official
  account (1035), Discover (1001) or the recent list (1089). Visitors share products ("Product
  Shared") and open or join group buys ("Group Buy Opened" / "Group Buy Joined"); new people mostly
  arrive through those cards. Every message carries the OpenID in ``context.externalIds``.
- Website: search (Baidu, Bing, Sogou, 360 with UTM parameters on the landing URL and in
  ``context.campaign``), social (Xiaohongshu, Zhihu, Weibo, Douyin), newsletter and direct visits; browsing
  is anonymous until the visitor logs in (identify with the same anonymousId) or leaves a phone or
  email at checkout; cookies are sometimes lost, giving the same person a new anonymousId.
- APP: members who come back often ("Application Opened", "Push Notification Opened", screens),
  ``context.device.id`` on every message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from siyu.simulate import brand
from siyu.simulate.model import MP_APPID, ChannelPlan, Person
from siyu.simulate.people import uuid4
from siyu.simulate.session import Session
from siyu.simulate.shop import browse, checkout, maybe_refund, nav, shop, yuan
from siyu.simulate.world import GroupBuy, Share, World

_PHONES = [d for d in brand.DEVICES if "iPad" not in d[1]]
_MP_LIBRARY = {"name": "analytics-wechat-miniprogram", "version": "2.3.1"}
_WEB_LIBRARY = {"name": "analytics.js", "version": "npm:next-1.72.0"}
_APP = {"name": brand.BRAND, "version": "5.8.1", "build": "5810", "namespace": "com.shancha.app"}
_SEARCH_ENGINES = {"baidu", "bing", "sogou", "360"}


def _session(w: World, p: Person, plan: ChannelPlan, t: int, ctx: dict[str, Any]) -> Session:
    return Session(w, p, plan, t, ctx)


def _due_login(s: Session) -> bool:
    plan = s.plan
    return plan.login_session == plan.sessions_done and not plan.identified and plan.mode != "anonymous"


def _hex(w: World, prefix: str) -> str:
    return prefix + format(w.rng.getrandbits(48), "012x")


def run_visit(w: World, p: Person, plan: ChannelPlan, t: int) -> None:
    if plan.channel == "miniprogram":
        _miniprogram(w, p, plan, t)
    elif plan.channel == "web":
        _web(w, p, plan, t)
    else:
        _app(w, p, plan, t)
    plan.sessions_done += 1


def _mp_entry(w: World, p: Person, plan: ChannelPlan, t: int) -> tuple[int, Share | None, GroupBuy | None]:
    rng = w.rng
    new = plan.sessions_done == 0 and not p.existing
    r = rng.random()
    group = w.pick_group_buy(t) if r < (0.25 if new else 0.08) else None
    share = w.pick_share(t) if group is None and r < (0.65 if new else 0.3) else None
    if group is not None:
        return (brand.SCENE_SHARE_TICKET if rng.random() < 0.6 else brand.SCENE_SHARE_GROUP), None, group
    if share is not None:
        if share.via == "wechat_friend":
            return brand.SCENE_SHARE_CHAT, share, None
        return rng.choice((brand.SCENE_SHARE_GROUP, brand.SCENE_SHARE_TICKET)), share, None
    if new:
        return brand.FIRST_SCENE.pick(rng), None, None
    return brand.RETURN_SCENE.pick(rng), None, None


def _miniprogram(w: World, p: Person, plan: ChannelPlan, t: int) -> None:
    rng = w.rng
    first = plan.sessions_done == 0
    scene, share, group = _mp_entry(w, p, plan, t)
    make, model, kind, os_name, versions = _PHONES[p.index % len(_PHONES)]
    ctx = {"library": _MP_LIBRARY,
           "miniprogram": {"appId": MP_APPID, "scene": scene, "version": "3.2.0"},
           "externalIds": [{"id": p.mp_openid, "type": "wechat_openid", "collection": MP_APPID,
                            "encoding": "none"}],
           "device": {"manufacturer": make, "model": model, "type": kind},
           "os": {"name": os_name, "version": versions[p.index % len(versions)]},
           "locale": "zh_CN", "timezone": "Asia/Shanghai"}
    s = _session(w, p, plan, t, ctx)
    s.see("wechat_openid", f"{MP_APPID}:{p.mp_openid}")
    opened: dict[str, Any] = {"scene": scene, "from_background": not first and rng.random() < 0.3}
    if share is not None:
        opened.update(share_id=share.share_id, sharer_openid=share.sharer_openid)
    if group is not None:
        opened.update(group_buy_id=group.group_buy_id, sharer_openid=group.initiator_openid)
    s.track("Application Opened", opened)
    if first and plan.identified:
        s.identify(s.login_traits())
    elif first and plan.mode == "member" and plan.login_session != 0:
        s.identify(s.wechat_traits(MP_APPID, p.mp_openid))  # wx.login: the OpenID, not yet a member
    login_now = _due_login(s)
    if login_now and (plan.mode != "member" or rng.random() < 0.5):
        s.login(w.registered)
        login_now = False
    maybe_refund(w, s)
    viewed = []
    if group is not None:
        nav(s, "groupbuy", group.product)
        group.joined += 1
        s.track("Group Buy Joined", {"group_buy_id": group.group_buy_id, "product_id": group.product.product_id,
                                     "sku": group.product.sku, "group_size": group.size, "joined": group.joined,
                                     "price": yuan(group.product.price_fen * 8 // 10), "currency": "CNY"})
        checkout(w, s, [(group.product, 1)], _hex(w, "cart-"), group_buy=group)
    elif share is not None:
        viewed = browse(w, s, first=share.product)
    else:
        nav(s, "home")
        viewed = browse(w, s, search=rng.choice(brand.SEARCH_TERMS) if rng.random() < 0.12 else None)
    if login_now:
        s.login(w.registered)
    shop(w, s, viewed)
    if viewed and rng.random() < 0.14:
        product = rng.choice(viewed)
        via = "wechat_friend" if rng.random() < 0.55 else "wechat_group"
        share_id = _hex(w, "sh-")
        s.track("Product Shared", {"share_id": share_id, "share_via": via, **product.props()})
        w.shares.append(Share(s.t, share_id, product, p.mp_openid, via))
    if rng.random() < 0.04:
        _open_group_buy(w, s)


def _open_group_buy(w: World, s: Session) -> None:
    product = w.product()
    size = w.rng.choice((2, 3, 3, 5))
    gid = _hex(w, "gb-")
    nav(s, "groupbuy", product)
    s.track("Group Buy Opened", {"group_buy_id": gid, "product_id": product.product_id, "sku": product.sku,
                                 "name": product.name, "group_size": size,
                                 "price": yuan(product.price_fen * 8 // 10), "regular_price": product.price,
                                 "currency": "CNY", "expires_in_hours": 24})
    group = GroupBuy(s.t, gid, product, size, s.p.mp_openid)
    checkout(w, s, [(product, 1)], _hex(w, "cart-"), group_buy=group)
    s.track("Product Shared", {"share_id": _hex(w, "sh-"), "share_via": "wechat_group", "group_buy_id": gid,
                               **product.props()})
    w.group_buys.append(group)


def _web_source(w: World) -> tuple[str, dict[str, str] | None, str, str | None]:
    """(referrer, campaign, landing query string, search term) of a website visit."""
    rng = w.rng
    _, referrer, source, medium = brand.WEB_SOURCE.pick(rng)
    term = rng.choice(brand.SEARCH_TERMS) if source in _SEARCH_ENGINES or (
        referrer and "baidu" in referrer) else None
    if source is None or medium is None:
        return referrer or "", None, "", term
    campaign = {"name": rng.choice(brand.CAMPAIGNS[medium]), "source": source, "medium": medium}
    if term is not None:
        campaign["term"] = term
    if medium in ("cpc", "social") and rng.random() < 0.5:
        campaign["content"] = rng.choice(brand.AD_CONTENT)
    query = {f"utm_{'campaign' if k == 'name' else k}": v for k, v in campaign.items()}
    return referrer or "", campaign, "?" + urlencode(query), term


def _web(w: World, p: Person, plan: ChannelPlan, t: int) -> None:
    rng = w.rng
    first = plan.sessions_done == 0
    was_in = plan.identified
    if not first and rng.random() < 0.08:  # new browser or cleared cookies: a new anonymousId, logged out
        plan.anonymous_id = uuid4(rng)
        plan.identified = plan.identified and plan.mode != "member"
    referrer, campaign, query, term = _web_source(w)
    ctx = {"library": _WEB_LIBRARY, "userAgent": brand.USER_AGENTS[p.index % len(brand.USER_AGENTS)],
           "locale": "zh-CN", "timezone": "Asia/Shanghai"}
    s = _session(w, p, plan, t, ctx)
    viewed = []
    if campaign is None and not referrer:
        nav(s, "home", referrer="")
    elif rng.random() < 0.6:
        product = w.product()
        nav(s, "detail", product, search=query, referrer=referrer, campaign=campaign)
        s.track("Product Viewed", {**product.props(), "currency": "CNY"})
        viewed.append(product)
    else:
        nav(s, "list", category=rng.choice(brand.CATEGORIES), search=query, referrer=referrer, campaign=campaign)
    if first and plan.identified:
        s.identify(s.login_traits())
    if was_in and not plan.identified and rng.random() < 0.6:
        nav(s, "account")
        s.login(w.registered)
    login_now = _due_login(s)
    if login_now and rng.random() < 0.5:
        if plan.mode == "member":
            nav(s, "account")
        s.login(w.registered)
        login_now = False
    maybe_refund(w, s)
    search = term if term is not None and rng.random() < 0.5 else None
    viewed += browse(w, s, search=search)
    if login_now:
        if plan.mode == "member":
            nav(s, "account")
        s.login(w.registered)
    shop(w, s, viewed)


def _app(w: World, p: Person, plan: ChannelPlan, t: int) -> None:
    rng = w.rng
    first = plan.sessions_done == 0
    assert p.device is not None and p.os is not None
    library = {"name": "analytics-ios" if p.device["type"] == "ios" else "analytics-android",
               "version": "4.1.8" if p.device["type"] == "ios" else "4.11.3"}
    ctx = {"library": library, "app": _APP, "device": p.device, "os": p.os, "locale": "zh-CN",
           "timezone": "Asia/Shanghai"}
    s = _session(w, p, plan, t, ctx)
    s.see("device_id", p.device["id"])
    version = {"version": _APP["version"], "build": _APP["build"]}
    if first and not p.existing and not p.shared_device:
        s.track("Application Installed", version)
    push = plan.identified and not first and rng.random() < 0.25
    if push:
        s.track("Push Notification Opened", {"campaign": {"name": rng.choice(brand.PUSH_CAMPAIGNS),
                                                          "medium": "push", "source": "jpush"}})
    s.track("Application Opened", {"from_background": push or rng.random() < 0.4, **version})
    if first and plan.identified:
        s.identify(s.login_traits())
    nav(s, "home")
    login_now = _due_login(s)
    if plan.identified and not first and rng.random() < 0.5:  # the daily check-in for points, and gone
        s.screen("签到")
        if rng.random() < 0.3:
            s.screen(rng.choice(("积分商城", "会员中心")))
        return
    maybe_refund(w, s)
    viewed = browse(w, s, search=rng.choice(brand.SEARCH_TERMS) if rng.random() < 0.2 else None)
    if login_now:
        nav(s, "account")
        s.login(w.registered)
    shop(w, s, viewed)
