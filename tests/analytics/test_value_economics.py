"""Channel economics against hand-computed figures, on DuckDB and ClickHouse (chdb)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from siyu.analytics.value.channel_schemas import EconomicsQuery, Level, SpendOut
from siyu.analytics.value.economics import economics
from tests.analytics.stores import KINDS, store
from tests.analytics.value_fixtures import at, event, order

D = date
SHOP = "https://shop.example/"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def history() -> list:  # type: ignore[type-arg]
    baidu = ("baidu", "cpc", "spring")
    return [
        event("A", at(D(2026, 3, 1)), "Home", msg_type="page", utm=baidu),
        order("A", D(2026, 3, 2), 5000), event("A", at(D(2026, 3, 10)), "Product Viewed"),
        order("A", D(2026, 3, 20), 3000), order("A", D(2026, 7, 5), 99999),  # after as_of
        event("B", at(D(2026, 3, 5)), "Home", msg_type="page", page_url=SHOP, referrer="https://www.zhihu.com/q"),
        order("B", D(2026, 3, 6), 2000),
        event("C", at(D(2026, 2, 1)), "Home", msg_type="page", utm=("newsletter", "email", "jan")),
        event("C", at(D(2026, 3, 10)), "Home", msg_type="page", utm=("baidu", "cpc", "brand")),
        order("C", D(2026, 3, 11), 4000), event("C", at(D(2026, 4, 5)), "Product Viewed"),
        order("C", D(2026, 5, 1), 6000),
        order("D", D(2026, 2, 15), 700), event("D", at(D(2026, 3, 14)), "Home", msg_type="page", utm=baidu),
        order("D", D(2026, 3, 15), 800),
        event("E", at(D(2026, 3, 20)), "Home", msg_type="page", utm=baidu),
        order("F", D(2026, 3, 25), 1000),
        event("G", at(D(2026, 3, 31), 23), "Home", msg_type="page", page_url=SHOP),
        order("G", D(2026, 4, 2), 500),
    ]


def spend(channel: str, campaign: str | None, start: date, end: date, fen: int, currency: str = "CNY") -> SpendOut:
    return SpendOut(id=f"s-{channel}-{campaign}-{currency}", channel=channel, campaign=campaign, start=start, end=end,
                    amount_fen=fen, currency=currency, created_at=NOW, updated_at=NOW)


SPEND = [
    spend("paid_search", "spring", D(2026, 3, 1), D(2026, 3, 31), 31000),
    spend("paid_search", "brand", D(2026, 2, 15), D(2026, 3, 16), 30000),  # 16 of its 30 days in March
    spend("social", None, D(2026, 3, 1), D(2026, 4, 30), 6100),  # 31 of 61 days
    spend("social", None, D(2026, 3, 1), D(2026, 3, 31), 500_000, currency="USD"),  # another currency
]


def query(level: Level) -> EconomicsQuery:
    return EconomicsQuery(start=D(2026, 3, 1), end=D(2026, 3, 31), as_of=D(2026, 6, 30), group_by=level)


@pytest.mark.parametrize("kind", KINDS)
def test_channel_and_campaign_economics_by_hand(kind: str, tmp_path: Path) -> None:
    with store(kind, tmp_path, history()) as an:
        by_channel = economics(an, query(Level.channel), SPEND)
        by_campaign = economics(an, query(Level.campaign), SPEND)
    rows = {r.channel: r for r in by_channel.rows}
    assert set(rows) == {"paid_search", "social", "direct"}
    ps, so, di = rows["paid_search"], rows["social"], rows["direct"]
    assert (ps.spend_fen, ps.visitors, ps.converted_visitors, ps.new_customers, ps.cac_fen) == (47000, 3, 2, 2, 23500)
    assert (ps.retention_rate, ps.repurchase_rate, ps.revenue_fen, ps.ltv_fen, ps.ltv_cac) == (1, 1, 18000, 9000,
                                                                                              round(9000 / 23500, 4))
    assert ps.conversion_rate == round(2 / 3, 6)
    assert (so.spend_fen, so.visitors, so.converted_visitors, so.new_customers, so.cac_fen) == (3100, 1, 1, 1, 3100)
    assert (so.retention_rate, so.repurchase_rate, so.revenue_fen, so.ltv_cac) == (0, 0, 2000, round(2000 / 3100, 4))
    assert (di.spend_fen, di.visitors, di.converted_visitors, di.new_customers, di.cac_fen, di.ltv_fen) == (
        0, 1, 1, 1, None, 1000)
    camps = {(r.channel, r.campaign): r for r in by_campaign.rows}
    spring, brand = camps[("paid_search", "spring")], camps[("paid_search", "brand")]
    assert (spring.spend_fen, spring.new_customers, spring.cac_fen, spring.ltv_fen, spring.visitors) == (
        31000, 1, 31000, 8000, 3)
    assert (brand.spend_fen, brand.new_customers, brand.cac_fen, brand.ltv_fen, brand.visitors) == (
        16000, 1, 16000, 10000, 0)
    assert set(camps) == {("paid_search", "spring"), ("paid_search", "brand"), ("social", None), ("direct", None)}


@pytest.mark.parametrize("kind", KINDS)
def test_eligibility_follows_as_of(kind: str, tmp_path: Path) -> None:
    q = query(Level.channel).model_copy(update={"as_of": D(2026, 4, 15)})
    with store(kind, tmp_path, history()) as an:
        rows = {r.channel: r for r in economics(an, q, []).rows}
    # first orders 03-02 and 03-11: 30 days have passed for both, 90 for neither
    ps = rows["paid_search"]
    assert (ps.retention_eligible, ps.repurchase_eligible, ps.repurchase_rate) == (2, 0, None)
    assert ps.revenue_fen == 5000 + 3000 + 4000  # up to as_of only
