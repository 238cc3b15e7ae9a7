"""Attribution against hand-computed credits, on DuckDB and ClickHouse (chdb)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from siyu.analytics.value import attribution, markov
from siyu.analytics.value.channel_schemas import AttributionQuery, AttributionReport, Level, Model
from tests.analytics.stores import KINDS, store
from tests.analytics.value_fixtures import at, event

D = date
SHOP = "https://shop.example/"


def history() -> list:  # type: ignore[type-arg]
    return [
        # A: Baidu ad on the website -> a share card in the mini-program -> opens the APP and buys there
        event("A", at(D(2026, 3, 1), 10), "Home", msg_type="page", utm=("baidu", "cpc", "spring"),
              page_url=SHOP + "?utm_source=baidu"),
        event("A", at(D(2026, 3, 1), 10 + 5 / 60), "Product", msg_type="page", page_url=SHOP + "p",
              referrer=SHOP),  # an internal page: not a touch
        event("A", at(D(2026, 3, 5), 12), "Application Opened", channel="miniprogram", scene="1007"),
        event("A", at(D(2026, 3, 5), 12 + 5 / 60), "Home", msg_type="page", channel="miniprogram", scene="1007"),
        event("A", at(D(2026, 3, 6), 12), "Application Opened", channel="app"),
        event("A", at(D(2026, 3, 6), 12 + 10 / 60), fen=10000, channel="app"),
        # B: Zhihu, then a direct visit, buys twice
        event("B", at(D(2026, 3, 10), 10), "Home", msg_type="page", page_url=SHOP,
              referrer="https://www.zhihu.com/question/1"),
        event("B", at(D(2026, 3, 10), 15), "Home", msg_type="page", page_url=SHOP),
        event("B", at(D(2026, 3, 10), 15 + 5 / 60), fen=5000),
        event("B", at(D(2026, 3, 20), 12), fen=3000),
        # C: a touch long before (outside the 30-day lookback), then an order with no touch
        event("C", at(D(2026, 1, 1), 12), "Home", msg_type="page", utm=("newsletter", "email", "jan")),
        event("C", at(D(2026, 3, 15), 12), fen=2000),
        # D: touches, no order
        event("D", at(D(2026, 3, 12), 12), "Home", msg_type="page", utm=("newsletter", "email", "weekly")),
        event("D", at(D(2026, 3, 13), 12), "Push Notification Opened", channel="app"),
        # E: an ad click before the period, an order in it
        event("E", at(D(2026, 2, 20), 12), "Home", msg_type="page", utm=("baidu", "cpc", "brand")),
        event("E", at(D(2026, 3, 2), 12), fen=1000),
    ]


def query(model: Model, level: Level = Level.channel) -> AttributionQuery:
    return AttributionQuery(start=D(2026, 3, 1), end=D(2026, 3, 31), model=model, group_by=level)


def credits(report: AttributionReport) -> dict[str, tuple[float, int]]:
    return {r.channel: (r.conversions, r.revenue_fen) for r in report.rows if r.conversions}


def td(ages: list[int]) -> list[float]:
    raw = [2 ** (-a / 168) for a in ages]
    return [v / sum(raw) for v in raw]


def expected_time_decay() -> dict[str, tuple[float, int]]:
    a, b1, b2 = td([122, 24, 0]), td([5, 0]), td([242, 237])
    return {
        "paid_search": (round(a[0] + 1, 4), round(a[0] * 10000 + 1000)),
        "wechat_share": (round(a[1], 4), round(a[1] * 10000)),
        "direct": (round(a[2] + b1[1] + b2[1] + 1, 4), round(a[2] * 10000 + b1[1] * 5000 + b2[1] * 3000 + 2000)),
        "social": (round(b1[0] + b2[0], 4), round(b1[0] * 5000 + b2[0] * 3000)),
    }


EXPECTED = {
    Model.first: {"paid_search": (2, 11000), "social": (2, 8000), "direct": (1, 2000)},
    Model.last: {"direct": (4, 20000), "paid_search": (1, 1000)},
    Model.last_non_direct: {"wechat_share": (1, 10000), "social": (2, 8000), "direct": (1, 2000),
                            "paid_search": (1, 1000)},
    Model.linear: {"paid_search": (1.3333, 4333), "wechat_share": (0.3333, 3333), "social": (1, 4000),
                   "direct": (2.3333, 9333)},
    Model.position: {"paid_search": (1.4, 5000), "wechat_share": (0.2, 2000), "social": (1, 4000),
                     "direct": (2.4, 10000)},
    Model.time_decay: expected_time_decay(),
    # removal effects 0.4, 0.2, 0.4, 0.8 (see test_markov_removal_effects_by_hand): shares 2/9, 1/9, 2/9, 4/9
    Model.markov: {"paid_search": (1.1111, 4667), "wechat_share": (0.5556, 2333), "social": (1.1111, 4667),
                   "direct": (2.2222, 9333)},
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_model_by_hand(kind: str, tmp_path: Path) -> None:
    with store(kind, tmp_path, history()) as an:
        reports = {m: attribution.attribution(an, query(m)) for m in Model}
        by_source = attribution.attribution(an, query(Model.first, Level.source))
        by_campaign = attribution.attribution(an, query(Model.first, Level.campaign))
    for model, expected in EXPECTED.items():
        report = reports[model]
        assert (report.conversions, report.revenue_fen) == (5, 21000)
        assert credits(report) == expected, model
    effects = {r.channel: r.removal_effect for r in reports[Model.markov].rows}
    assert effects == {"paid_search": 0.4, "wechat_share": 0.2, "social": 0.4, "direct": 0.8, "email": 0.0,
                       "push": 0.0}
    assert {(r.channel, r.source): r.conversions for r in by_source.rows} == {
        ("paid_search", "baidu"): 2, ("social", "zhihu.com"): 2, ("direct", "(direct)"): 1}
    assert {(r.source, r.campaign): r.revenue_fen for r in by_campaign.rows} == {
        ("baidu", "spring"): 10000, ("baidu", "brand"): 1000, ("zhihu.com", None): 8000, ("(direct)", None): 2000}


def test_markov_removal_effects_by_hand() -> None:
    ps, ws, so, di, em, pu = (("paid_search",), ("wechat_share",), ("social",), ("direct",), ("email",), ("push",))
    converting = [((ps, ws, di), 1), ((so, di), 2), ((di,), 1), ((ps,), 1)]
    effects = markov.removal_effects(converting, [((em, pu), 1)])
    assert effects == pytest.approx({ps: 0.4, ws: 0.2, so: 0.4, di: 0.8, em: 0.0, pu: 0.0})
    # repeats in a row are one state
    assert markov.removal_effects([((ps, ps, di), 1)], []) == pytest.approx(
        markov.removal_effects([((ps, di), 1)], []))
