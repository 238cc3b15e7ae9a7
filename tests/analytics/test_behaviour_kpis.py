"""KPIs against hand-computed figures, on DuckDB and ClickHouse (chdb).

Period: days 1-3 (previous period: days -2 to 0), brand-local.

- a (web): seen on day -5; on day 1 orders 1,000 fen, on day 2 2,000 fen (a repeat buyer);
- b: first seen on day 1 in the mini-program, signs up, shares a product; back on the APP on day 2;
- c (web): first seen at 00:30 on day 2 (still day 1 in UTC), orders 500 fen on day 3, back on day 9;
- d (web): seen on day 0 only; e (web): signed up on day -10, signs in again (``Signed Up``) on day 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from siyu.analytics.behaviour.kpis import kpis
from siyu.analytics.behaviour.schemas import KpiQuery
from tests.analytics.behaviour_fixtures import at, ev, on
from tests.analytics.stores import KINDS, store

V, OC = "Product Viewed", "Order Completed"


def history() -> list[Any]:
    return [
        ev("a", at(-5), V), ev("a", at(1, 10), V), ev("a", at(1, 11), OC, props={"total_fen": 1000}),
        ev("a", at(2, 11), OC, props={"total_fen": 2000}),
        ev("b", at(1, 9), V, "miniprogram"), ev("b", at(1, 9.5), "Signed Up", "miniprogram"),
        ev("b", at(1, 10), "Product Shared", "miniprogram"), ev("b", at(2, 10), V, "app"),
        ev("c", at(2, 0.5), V), ev("c", at(3, 12), OC, props={"total_fen": 500}), ev("c", at(9), V),
        ev("d", at(0), V),
        ev("e", at(-10), "Signed Up"), ev("e", at(2), "Signed Up"),
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_kpis_with_the_previous_period(kind: str, tmp_path: Path) -> None:
    q = KpiQuery(start=on(1), end=on(3), by_channel=True, as_of=on(40))
    with store(kind, tmp_path, history()) as an:
        report = kpis(an, q)
    assert (report.previous_start, report.previous_end) == (on(-2), on(0))
    cur = report.overall.current
    assert (cur.new_users, cur.active_users, cur.dau, cur.wau, cur.mau, cur.dau_avg) == (2, 4, 1, 5, 5, 2.333)
    assert (cur.new_members, cur.orders, cur.gmv_fen, cur.aov_fen, cur.buyers) == (1, 3, 3500, 1167, 2)
    assert (cur.conversion, cur.repeat_buyers, cur.repurchase_rate, cur.sharers, cur.share_rate) == \
        (0.5, 1, 0.5, 1, 0.25)
    assert (cur.retention_d1.retained, cur.retention_d1.eligible, cur.retention_d1.rate) == (2, 2, 1.0)
    assert (cur.retention_d7.retained, cur.retention_d30.retained, cur.retention_d30.eligible) == (1, 0, 2)
    prev = report.overall.previous
    assert prev is not None
    assert (prev.new_users, prev.active_users, prev.dau, prev.wau, prev.mau, prev.orders) == (1, 1, 1, 2, 3, 0)
    assert prev.retention_d1.rate == 0.0 and prev.conversion == 0.0 and prev.aov_fen is None
    change, delta = report.overall.change, report.overall.delta
    assert (change["new_users"], change["active_users"], change["orders"], delta["orders"]) == (1.0, 3.0, None, 3)
    assert change["retention_d1"] is None and delta["retention_d1"] == 1.0

    by = {s.channel: s.current for s in report.by_channel}
    assert set(by) == {"miniprogram", "web", "app", "server"}
    assert (by["miniprogram"].active_users, by["miniprogram"].new_members, by["miniprogram"].share_rate) == (1, 1, 1.0)
    assert (by["app"].new_users, by["app"].active_users) == (1, 1)  # b's first APP event is on day 2
    assert (by["web"].new_users, by["web"].active_users, by["web"].orders) == (1, 3, 3)
    assert by["server"].active_users == 0


@pytest.mark.parametrize("kind", KINDS)
def test_retention_waits_for_day_n_and_filters_channels(kind: str, tmp_path: Path) -> None:
    q = KpiQuery(start=on(1), end=on(3), compare=False, as_of=on(3), channels=["web"])
    with store(kind, tmp_path, history()) as an:
        report = kpis(an, q)
    cur = report.overall.current
    assert report.overall.previous is None and report.previous_start is None
    assert (cur.new_users, cur.active_users, cur.new_members, cur.sharers) == (1, 3, 0, 0)  # c; a, c, e
    # c's first day is day 2: day 1 after it (day 3) is seen on day 3, day 7 is not
    assert (cur.retention_d1.retained, cur.retention_d1.eligible) == (1, 1)
    assert (cur.retention_d7.retained, cur.retention_d7.eligible, cur.retention_d7.rate) == (0, 0, None)
