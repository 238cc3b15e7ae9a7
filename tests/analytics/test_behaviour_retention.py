"""Retention cohorts against hand-computed tables, on DuckDB and ClickHouse (chdb).

Day 0 is Sunday 2026-03-01 (brand-local); day 1 a Monday.

- p1 (APP): first seen on day 1; back on days 2 (ordering 1,000 fen) and 4;
- p2 (mini-program): first seen on day 1, ordering 500 fen that day; back on day 2;
- p3 (web): first seen at 00:30 on day 2 (day 1 in UTC); back on days 3 and 9;
- p4 (web): first seen on day 0; back on day 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from siyu.analytics.behaviour.retention import retention
from siyu.analytics.behaviour.schemas import RetentionQuery
from tests.analytics.behaviour_fixtures import at, ev, on
from tests.analytics.stores import KINDS, store

V, OC = "Product Viewed", "Order Completed"


def history() -> list[Any]:
    return [
        ev("p1", at(1, 10), V, "app"), ev("p1", at(2), OC, "app", props={"total_fen": 1000}), ev("p1", at(4), V, "app"),
        ev("p2", at(1, 9), V, "miniprogram"), ev("p2", at(1, 10), OC, "miniprogram", props={"total_fen": 500}),
        ev("p2", at(2), V, "miniprogram"),
        ev("p3", at(2, 0.5), V), ev("p3", at(3), V), ev("p3", at(9), V),
        ev("p4", at(0), V), ev("p4", at(1), V),
    ]


def q(**kw: Any) -> RetentionQuery:
    return RetentionQuery.model_validate({"start": on(1), "end": on(2), "unit": "day", "periods": 7,
                                         "as_of": on(30), **kw})


def table(r: Any) -> list[tuple[str, str | None, int, list[int | None]]]:
    return [(c.cohort.isoformat(), c.channel, c.size, c.returned) for c in r.cohorts]


@pytest.mark.parametrize("kind", KINDS)
def test_cohorts(kind: str, tmp_path: Path) -> None:
    with store(kind, tmp_path, history()) as an:
        first = retention(an, q())
        channels = retention(an, q(by_channel=True, revenue=False))
        recurring = retention(an, q(mode="recurring"))
        buyers = retention(an, q(start_event=OC))
        weekly = retention(an, q(unit="week", end=on(7), periods=2))
        monthly = retention(an, q(unit="month", periods=1))
        early = retention(an, q(as_of=on(3)))
    assert table(first) == [("2026-03-02", None, 2, [2, 2, 0, 1, 0, 0, 0, 0]),
                            ("2026-03-03", None, 1, [1, 1, 0, 0, 0, 0, 0, 1])]
    d1 = first.cohorts[0]
    assert d1.revenue_fen == [500, 1500, 1500, 1500, 1500, 1500, 1500, 1500]
    assert d1.ltv_fen[:2] == [250.0, 750.0] and d1.rates[:4] == [1.0, 1.0, 0.0, 0.5]
    assert first.cohorts[1].revenue_fen == [0] * 8
    assert [(c, ch, n) for c, ch, n, _ in table(channels)] == [
        ("2026-03-02", "app", 1), ("2026-03-02", "miniprogram", 1), ("2026-03-03", "web", 1)]
    assert channels.cohorts[0].revenue_fen == []
    assert table(recurring) == [("2026-03-02", None, 3, [3, 2, 0, 1, 0, 0, 0, 0]),
                                ("2026-03-03", None, 3, [3, 1, 1, 0, 0, 0, 0, 1])]
    assert table(buyers) == [("2026-03-02", None, 1, [1, 1, 0, 0, 0, 0, 0, 0]),
                             ("2026-03-03", None, 1, [1, 0, 1, 0, 0, 0, 0, 0])]
    assert table(weekly) == [("2026-03-02", None, 3, [3, 1, 0])]
    assert table(monthly) == [("2026-03-01", None, 4, [4, None])]  # April begins after as_of (March 31)
    assert table(early)[0][3] == [2, 2, 0, None, None, None, None, None]
    assert early.cohorts[0].revenue_fen[3] is None
