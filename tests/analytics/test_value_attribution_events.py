"""Attribution of a configured conversion event other than orders, and of cross-channel link opens, on DuckDB
and ClickHouse (chdb); and a link open credited end to end (link API -> outbox -> event store -> attribution)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from siyu.analytics.engine import local_today
from siyu.analytics.value import attribution
from siyu.analytics.value.channel_schemas import AttributionQuery, AttributionReport, Level, Model
from siyu.analytics.value.touches import LINK, LINK_OPENED
from siyu.promotions.links.service import OPENED
from tests.analytics.stores import store
from tests.analytics.value_fixtures import at, event
from tests.conftest import Api
from tests.identity.journeys import msg, send

D = date
SHOP = "https://shop.example/"
SIGNED_UP = "Signed Up"


def rows(report: AttributionReport) -> dict[tuple[str, str | None], tuple[float, int]]:
    return {(r.channel, r.source): (r.conversions, r.revenue_fen) for r in report.rows if r.conversions}


def query(model: Model, **kw: Any) -> AttributionQuery:
    return AttributionQuery.model_validate({"start": D(2026, 3, 1), "end": D(2026, 3, 31), "model": model,
                                            "group_by": Level.source, **kw})


def signups() -> list[Any]:
    return [
        # S1: a Baidu ad, signs up, orders the next day (the order is not the conversion asked for)
        event("S1", at(D(2026, 3, 1), 10), "Home", msg_type="page", utm=("baidu", "cpc", "spring")),
        event("S1", at(D(2026, 3, 1), 10.1), SIGNED_UP),
        event("S1", at(D(2026, 3, 2), 12), fen=5000),
        # S2: from Zhihu, signs up
        event("S2", at(D(2026, 3, 3), 10), "Home", msg_type="page", page_url=SHOP,
              referrer="https://www.zhihu.com/q/1"),
        event("S2", at(D(2026, 3, 3), 11), SIGNED_UP),
        # S3: signs up with no touch at all
        event("S3", at(D(2026, 3, 4), 12), SIGNED_UP),
        # S4: a touch and an order, no sign-up
        event("S4", at(D(2026, 3, 5), 10), "Home", msg_type="page", utm=("newsletter", "email", "w1")),
        event("S4", at(D(2026, 3, 5), 11), fen=7000),
    ]


def test_a_configured_conversion_event_without_revenue(engine_kind: str, tmp_path: Path) -> None:
    with store(engine_kind, tmp_path, signups()) as an:
        first = attribution.attribution(an, query(Model.first, event=SIGNED_UP))
        linear = attribution.attribution(an, query(Model.linear, event=SIGNED_UP))
        orders = attribution.attribution(an, query(Model.first))
    expected = {("paid_search", "baidu"): (1, 0), ("social", "zhihu.com"): (1, 0), ("direct", "(direct)"): (1, 0)}
    assert (first.conversions, first.revenue_fen) == (3, 0)
    assert rows(first) == expected
    assert rows(linear) == expected
    assert all(abs(r.share - 1 / 3) < 1e-3 for r in first.rows if r.conversions)
    # the default conversion is still the order: S1's and S4's
    assert (orders.conversions, orders.revenue_fen) == (2, 12000)
    assert rows(orders) == {("paid_search", "baidu"): (1, 5000), ("email", "newsletter"): (1, 7000)}


def link_open(person: str, day: date, hour: float, code: str, *, channel: str = "miniprogram",
              utm: tuple[str | None, str | None, str | None] | None = None, scene: str | None = None) -> Any:
    """A ``Channel Link Opened`` as ``siyu.promotions.links.service.record_open`` writes it."""
    return event(person, at(day, hour), OPENED, channel=channel, utm=utm, scene=scene,
                 properties={"link_code": code, "kind": "miniprogram_to_app", "via": "link",
                             "source_channel": channel, "target_channel": "app"})


def cross_channel() -> list[Any]:
    return [
        # L1: a link shared in the mini-program (no UTM labels), opened there; days later buys in the APP
        link_open("L1", D(2026, 3, 1), 9.5, "SHARE001"),
        event("L1", at(D(2026, 3, 4), 20), "Application Opened", channel="app"),
        event("L1", at(D(2026, 3, 4), 20.2), fen=8000, channel="app"),
        # L2: first a Baidu ad, then the link opened as a scanned mini-program code, buys in the APP
        event("L2", at(D(2026, 3, 2), 9), "Home", msg_type="page", utm=("baidu", "cpc", "spring")),
        link_open("L2", D(2026, 3, 3), 9, "SHARE001", scene="1047"),
        event("L2", at(D(2026, 3, 3), 10), fen=3000, channel="app"),
        # L3: a link with UTM labels is credited by its labels
        link_open("L3", D(2026, 3, 6), 9, "POSTER02", utm=("miniprogram", "social", "app-download")),
        event("L3", at(D(2026, 3, 6), 10), fen=1000, channel="app"),
    ]


def test_link_opens_are_touches_across_channels(engine_kind: str, tmp_path: Path) -> None:
    assert OPENED == LINK_OPENED
    with store(engine_kind, tmp_path, cross_channel()) as an:
        first = attribution.attribution(an, query(Model.first))
        last = attribution.attribution(an, query(Model.last_non_direct))
        by_campaign = attribution.attribution(an, query(Model.first, group_by=Level.campaign))
    link = (LINK, "link:SHARE001")
    assert rows(first) == {link: (1, 8000), ("paid_search", "baidu"): (1, 3000), ("social", "miniprogram"): (1, 1000)}
    assert rows(last) == {link: (2, 11000), ("social", "miniprogram"): (1, 1000)}
    assert {(r.source, r.campaign) for r in by_campaign.rows if r.conversions} >= {("miniprogram", "app-download")}


def test_a_link_opened_in_the_miniprogram_credits_an_app_order_end_to_end(api: Api) -> None:
    """The real path: the link API records the open (outbox -> bus -> event store), the APP identifies the
    opener's anonymous id (passed along by the deep link) with a user id and orders; first touch credits the
    link."""
    h, c = api.admin_headers(), api.client
    r = c.post("/api/v1/promotions/links", json={"kind": "miniprogram_to_app", "name": "share",
                                                 "target_url": "brandapp://product/42"}, headers=h)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    opened = c.get(f"/l/{code}?aid=opener-1", follow_redirects=False)
    assert opened.status_code == 302, opened.text
    send(api, "app", msg("identify", anonymousId="opener-1", userId="buyer-1"),
         msg("track", event="Application Opened", userId="buyer-1"),
         msg("track", event="Order Completed", userId="buyer-1", properties={"total_fen": 12300}))
    api.drain()
    today = local_today_of(api)
    period = {"start": (today - timedelta(days=1)).isoformat(), "end": (today + timedelta(days=1)).isoformat(),
              "group_by": "source"}
    for model in ("first", "last_non_direct", "linear"):
        r = c.post("/api/v1/analytics/attribution", json={**period, "model": model}, headers=h)
        assert r.status_code == 200, r.text
        credited = {(x["channel"], x["source"]): (x["conversions"], x["revenue_fen"]) for x in r.json()["rows"]
                    if x["conversions"]}
        if model == "linear":  # the link, then the APP's own opening (direct)
            assert credited == {(LINK, f"link:{code}"): (0.5, 6150), ("direct", "(direct)"): (0.5, 6150)}
        else:
            assert credited == {(LINK, f"link:{code}"): (1, 12300)}, model


def local_today_of(api: Api) -> date:
    from siyu.analytics.engine import Analytics

    return local_today(Analytics.of(api.runtime.warehouse))
