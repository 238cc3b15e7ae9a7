"""Paths against hand-computed answers, on DuckDB and ClickHouse (chdb).

- alice: views and adds a product in the mini-program, orders on the APP half an hour later;
- bob (mini-program): views twice, adds two days later (after the one-day gap that ends a path);
- carol (web): views, a page view, adds; dave (web): views and adds on day 0, before the period.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from siyu.analytics.behaviour.paths import paths
from siyu.analytics.behaviour.schemas import PathsQuery
from tests.analytics.behaviour_fixtures import at, ev, on
from tests.analytics.stores import KINDS, store

V, A, OC = "Product Viewed", "Product Added", "Order Completed"
M = 1 / 60
MP = "miniprogram"


def history() -> list[Any]:
    return [
        ev("alice", at(1, 10), V, MP), ev("alice", at(1, 10 + M), A, MP), ev("alice", at(1, 10.5), OC, "app"),
        ev("bob", at(1, 9), V, MP), ev("bob", at(1, 9 + 5 * M), V, MP), ev("bob", at(3, 9), A, MP),
        ev("carol", at(2, 10), V), ev("carol", at(2, 10 + M), "Home", msg_type="page"),
        ev("carol", at(2, 10 + 2 * M), A),
        ev("dave", at(0, 10), V), ev("dave", at(0, 11), A),
    ]


def q(event: str, **kw: Any) -> PathsQuery:
    return PathsQuery.model_validate({"start": on(1), "end": on(7), "event": event, **kw})


def rows(r: Any) -> list[tuple[list[str], int]]:
    return [(p.path, p.occurrences) for p in r.paths]


@pytest.mark.parametrize("kind", KINDS)
def test_next_and_previous_events(kind: str, tmp_path: Path) -> None:
    with store(kind, tmp_path, history()) as an:
        after_view = paths(an, q(V))
        with_pages = paths(an, q(V, by_channel=False, include_pages=True))
        after_add = paths(an, q(A, depth=2))
        before_order = paths(an, q(OC, direction="previous", depth=2, by_channel=False))
        top_one = paths(an, q(V, by_channel=False, top=1))
    assert (after_view.occurrences, after_view.persons) == (4, 3)
    assert rows(after_view) == [([f"{MP}:{V}", "(end)"], 1), ([f"{MP}:{V}", f"{MP}:{A}"], 1),
                                ([f"{MP}:{V}", f"{MP}:{V}"], 1), ([f"web:{V}", f"web:{A}"], 1)]
    assert after_view.paths[0].share == 0.25 and after_view.cross_channel == 0
    assert rows(with_pages) == [([V, "(end)"], 1), ([V, "Home"], 1), ([V, A], 1), ([V, V], 1)]
    assert rows(after_add) == [([f"{MP}:{A}", "(end)", "(end)"], 1), ([f"{MP}:{A}", f"app:{OC}", "(end)"], 1),
                               ([f"web:{A}", "(end)", "(end)"], 1)]
    assert after_add.cross_channel == 1
    assert [(m.from_channel, m.to_channel, m.occurrences) for m in after_add.channel_moves] == [(MP, "app", 1)]
    assert rows(before_order) == [([OC, A, V], 1)]
    assert rows(top_one) == [([V, A], 2)] and top_one.occurrences == 4
