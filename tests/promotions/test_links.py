"""Cross-channel links: website -> mini-program, mini-program -> APP, anywhere -> website; short links that
redirect and record each open (or QR scan) as a touch in the event store, with its UTM columns filled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import update

from siyu.kit.clock import utcnow
from siyu.promotions.links import qr
from siyu.promotions.links.models import ChannelLink
from tests.orders.shop import Shop

WEB = {"kind": "to_web", "name": "双11 海报", "target_url": "https://brand.example/sale?x=1&utm_source=old",
       "utm_source": "poster", "utm_medium": "offline", "utm_campaign": "double11"}
MINI = {"kind": "web_to_miniprogram", "target_url": "https://wxaurl.cn/AbCdEf", "page_path": "pages/sale/index",
        "utm_source": "website", "utm_medium": "banner", "utm_campaign": "double11"}
APP = {"kind": "miniprogram_to_app", "target_url": "brandapp://product/42", "utm_source": "miniprogram",
       "utm_campaign": "app-download"}


def create(shop: Shop, body: dict[str, Any], status: int = 201) -> Any:
    return shop.admin("POST", "/api/v1/promotions/links", body, status=status)


def test_links_of_each_kind_redirect_to_their_targets(shop: Shop) -> None:
    web, mini, app = create(shop, WEB), create(shop, MINI), create(shop, APP)
    assert web["source_channel"] == "any" and web["target_channel"] == "web"
    assert mini["source_channel"] == "web" and mini["target_channel"] == "miniprogram"
    assert mini["scene"] == f"l={mini['code']}" and len(mini["scene"]) <= 32
    assert app["source_channel"] == "miniprogram" and app["target_channel"] == "app"
    client = shop.api.client
    r = client.get(web["short_path"], follow_redirects=False)
    assert r.status_code == 302 and r.headers["cache-control"] == "no-store"
    target = urlsplit(r.headers["location"])
    query = parse_qs(target.query)
    assert (target.netloc, target.path) == ("brand.example", "/sale")
    assert query == {"x": ["1"], "utm_source": ["poster"], "utm_medium": ["offline"], "utm_campaign": ["double11"]}
    assert r.headers["location"] == web["opens_url"]
    assert client.get(mini["short_path"], follow_redirects=False).headers["location"] == "https://wxaurl.cn/AbCdEf"
    assert client.get(f"/l/{app['code'].lower()}", follow_redirects=False).headers["location"] == APP["target_url"]
    page = shop.admin("GET", "/api/v1/promotions/links?limit=2")
    assert [i["id"] for i in page["items"]] == [app["id"], mini["id"]] and page["next_cursor"] == mini["id"]
    assert shop.admin("GET", f"/api/v1/promotions/links?before={mini['id']}")["items"][0]["id"] == web["id"]


def test_opens_and_scans_are_touches_in_the_event_store(shop: Shop) -> None:
    web, mini = create(shop, WEB), create(shop, MINI)
    client = shop.api.client
    first = client.get(web["short_path"], follow_redirects=False, headers={"Referer": "https://weibo.example/p/1"})
    made = first.cookies.get("ajs_anonymous_id")
    assert made  # a visitor without an anonymous id gets one, kept for their next open
    client.cookies.clear()
    client.get(f"{web['short_path']}?via=qr&aid=visitor-1", follow_redirects=False)
    client.cookies.set("ajs_anonymous_id", "%22visitor-2%22")  # analytics.js keeps it JSON-quoted
    again = client.get(mini["short_path"], follow_redirects=False)
    assert "ajs_anonymous_id" not in again.headers.get("set-cookie", "")
    client.cookies.clear()
    scan = client.get(f"/l/{mini['code']}?via=wxacode&redirect=false&aid=visitor-3&wx_scene=1047")
    assert scan.status_code == 200, scan.text
    assert scan.json() == {"code": mini["code"], "kind": "web_to_miniprogram", "url": MINI["target_url"],
                           "target_channel": "miniprogram", "page_path": "pages/sale/index", "scene": mini["scene"]}
    shop.api.drain()
    rows = shop.api.sql(
        "SELECT anonymous_id, channel, utm_source, utm_medium, utm_campaign, scene, referrer, "
        "json_extract_string(properties, '$.via'), json_extract_string(properties, '$.link_id'), "
        "json_extract_string(properties, '$.target_channel') "
        "FROM events WHERE event = 'Channel Link Opened' ORDER BY timestamp")
    assert rows == [
        [made, "web", "poster", "offline", "double11", None, "https://weibo.example/p/1", "link", web["id"], "web"],
        ["visitor-1", "web", "poster", "offline", "double11", None, None, "qr", web["id"], "web"],
        ["visitor-2", "web", "website", "banner", "double11", None, None, "link", mini["id"], "miniprogram"],
        ["visitor-3", "miniprogram", "website", "banner", "double11", "1047", None, "wxacode", mini["id"],
         "miniprogram"],
    ]


def test_qr_codes_encode_the_short_link_marked_as_a_scan(shop: Shop) -> None:
    link = create(shop, WEB)
    png = shop.api.client.get(f"/api/v1/promotions/links/{link['id']}/qr.png?scale=4",
                              headers=shop.api.admin_headers())
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert png.content == qr.render(f"http://testserver/l/{link['code']}?via=qr", "png", 4, 4)
    svg = shop.api.client.get(f"/api/v1/promotions/links/{link['id']}/qr.svg?base=https://s.brand.example&border=2",
                              headers=shop.api.admin_headers())
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.content == qr.render(f"https://s.brand.example/l/{link['code']}?via=qr", "svg", 8, 2)
    assert b"<svg" in svg.content
    bad_base = shop.api.client.get(f"/api/v1/promotions/links/{link['id']}/qr.svg?base=javascript:alert(1)",
                                   headers=shop.api.admin_headers())
    assert bad_base.status_code == 422


def test_bad_links_are_refused(shop: Shop) -> None:
    for body in (
        {**WEB, "utm_source": None},  # a website link carries its campaign
        {**WEB, "target_url": "ftp://brand.example/x"},
        {**APP, "target_url": "javascript:alert(1)"},
        {**APP, "target_url": "http://brand.example/app"},
        {**MINI, "page_path": None},
        {**MINI, "scene": "x" * 33},  # WeChat's scene is at most 32 characters
        {**MINI, "target_url": "brandapp://x"},
        {**WEB, "page_path": "pages/index"},
        {**WEB, "expires_at": "2020-01-01T00:00:00Z"},
    ):
        r = shop.api.client.post("/api/v1/promotions/links", json=body, headers=shop.api.admin_headers())
        assert r.status_code == 422, (body, r.text)
    member = shop.member("13800139000")
    assert member.call("POST", "/api/v1/promotions/links", WEB).status_code == 403
    assert member.call("GET", "/api/v1/promotions/links").status_code == 403


def test_expired_and_unknown_links(shop: Shop) -> None:
    link = create(shop, {**WEB, "expires_at": (utcnow() + timedelta(seconds=1)).isoformat()})
    assert shop.api.client.get("/l/NOSUCHCODE", follow_redirects=False).status_code == 404
    assert shop.api.client.get("/l/" + "A" * 40, follow_redirects=False).status_code == 422
    with shop.api.runtime.db.session() as s:
        s.execute(update(ChannelLink).where(ChannelLink.id == link["id"])
                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    r = shop.api.client.get(link["short_path"], follow_redirects=False)
    assert r.status_code == 410 and r.json()["error"]["code"] == "link_expired"
