"""Funnels against hand-computed answers, on DuckDB and ClickHouse (chdb).

Eight persons (window one day, period days 1 to 7, brand-local):

- alice (mini-program): viewed, added 5 min later, ordered 5 min after that (5,000 fen);
- bob: viewed on the website on day 1 (from baidu), again in the mini-program on day 3 at 08:00, added on
  the APP at 09:00 and ordered there at 12:00 (20,000 fen): his day-1 view is too early for the window,
  his day-3 one converts (every first-step event is a possible start);
- carol (web): viewed, added an hour later; dave (APP): added, then viewed (wrong order);
- erin: viewed and added on day 8, after the period; frank: viewed on day 0, before it, added on day 1;
- gina (mini-program): viewed at 23:00 on the period's last day, added two hours later (after the period,
  inside the window);
- hank (web, from zhihu): viewed, added a minute later, removed a coupon, ordered (15,000 fen).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from siyu.analytics.behaviour.funnel import funnel_persons, run_funnel
from siyu.analytics.behaviour.funnel_schemas import FunnelPersonsQuery, FunnelQuery, FunnelResult
from tests.analytics.behaviour_fixtures import at, ev, on
from tests.analytics.stores import KINDS, store

V, A, OC, CR = "Product Viewed", "Product Added", "Order Completed", "Coupon Removed"
M = 1 / 60


def history() -> list[Any]:
    return [
        ev("alice", at(1, 10), V, "miniprogram"), ev("alice", at(1, 10 + 5 * M), A, "miniprogram"),
        ev("alice", at(1, 10 + 10 * M), OC, "miniprogram", props={"total_fen": 5000}),
        ev("bob", at(1, 9), V, "web", utm_source="baidu"), ev("bob", at(3, 8), V, "miniprogram"),
        ev("bob", at(3, 9), A, "app"), ev("bob", at(3, 12), OC, "app", props={"total_fen": 20000}),
        ev("carol", at(2, 10), V), ev("carol", at(2, 11), A),
        ev("dave", at(2, 10), A, "app"), ev("dave", at(2, 11), V, "app"),
        ev("erin", at(8, 10), V), ev("erin", at(8, 11), A),
        ev("frank", at(0, 10), V), ev("frank", at(1, 10), A),
        ev("gina", at(7, 23), V, "miniprogram"), ev("gina", at(8, 1), A, "miniprogram"),
        ev("hank", at(4, 10), V, utm_source="zhihu"), ev("hank", at(4, 10 + M), A), ev("hank", at(4, 10 + 2 * M), CR),
        ev("hank", at(4, 10 + 3 * M), OC, props={"total_fen": 15000}),
    ]


def query(*steps: str | dict[str, Any], **kw: Any) -> FunnelQuery:
    return FunnelQuery.model_validate({"start": on(1), "end": on(7), "window": "1d",
                                       "steps": [s if isinstance(s, dict) else {"event": s} for s in steps], **kw})


def counts(r: FunnelResult) -> list[int]:
    return [s.persons for s in r.steps]


def groups(r: FunnelResult) -> list[tuple[str | None, list[int]]]:
    return [(g.value, [s.persons for s in g.steps]) for g in r.groups]


@pytest.mark.parametrize("kind", KINDS)
def test_ordered_strict_and_unordered(kind: str, tmp_path: Path) -> None:
    with store(kind, tmp_path, history()) as an:
        ordered = run_funnel(an, query(V, A, OC))
        strict = run_funnel(an, query(V, A, OC, order="strict"))
        unordered = run_funnel(an, query(V, A, OC, order="unordered"))
        excluded = run_funnel(an, query(V, A, OC, exclusions=[{"event": CR}]))
        excluded_elsewhere = run_funnel(an, query(V, A, OC, exclusions=[{"event": CR, "after_step": 1,
                                                                          "before_step": 2}]))
        step_window = run_funnel(an, query(V, A, {"event": OC, "window": "1h"}))
        filtered = run_funnel(an, query(V, A, {"event": OC, "filters": [{"property": "total_fen", "op": "gt",
                                                                         "value": 10000}]}))
        channels = run_funnel(an, query(V, A, OC, channels=["web"]))
    assert counts(ordered) == [6, 5, 3]
    assert counts(strict) == [6, 5, 2]  # hank's coupon removal sits between his add and his order
    assert counts(unordered) == [7, 6, 3]  # frank's day-1 add starts one; dave's add-then-view counts two
    assert counts(excluded) == [6, 5, 2]
    assert counts(excluded_elsewhere) == [6, 5, 3]
    assert counts(step_window) == [6, 5, 2]  # bob ordered 3 hours after adding
    assert counts(filtered) == [6, 5, 2]  # alice's order is 5,000 fen
    assert counts(channels) == [3, 2, 1]  # web only: bob viewed there on day 1 but added on the APP

    s1, s2, s3 = ordered.steps
    assert (s1.conversion_from_first, s2.conversion_from_previous, s3.conversion_from_first) == (1.0, 0.833333, 0.5)
    assert (s2.dropped, s3.dropped) == (1, 2)
    # first completions: step 2 after 300 s (alice), 3600 (bob, carol), 7200 (gina), 60 (hank)
    assert (s2.avg_seconds_from_previous, s2.median_seconds_from_previous) == (2952.0, 3600.0)
    # step 3: alice 300 s after adding (600 after viewing), bob 10,800 (14,400), hank 120 (180)
    assert (s3.avg_seconds_from_previous, s3.median_seconds_from_previous) == (3740.0, 300.0)
    assert (s3.avg_seconds_from_first, s3.median_seconds_from_first) == (5060.0, 600.0)
    assert strict.steps[2].median_seconds_from_previous == 300.0  # alice and bob: 300 s and 10,800 s
    assert unordered.steps[1].avg_seconds_from_previous is None


@pytest.mark.parametrize("kind", KINDS)
def test_breakdowns_and_optional_steps(kind: str, tmp_path: Path) -> None:
    with store(kind, tmp_path, history()) as an:
        first = run_funnel(an, query(V, A, OC, breakdown="channel"))
        last = run_funnel(an, query(V, A, OC, breakdown="channel", attribution="last_touch"))
        utm = run_funnel(an, query(V, A, OC, breakdown="utm_source"))
        optional = run_funnel(an, query(V, {"event": A, "optional": True}, OC))
    assert counts(first) == [6, 5, 3]
    # first touch: where the person was first seen (bob on the website on day 1)
    assert groups(first) == [("web", [3, 3, 2]), ("miniprogram", [2, 2, 1]), ("app", [1, 0, 0])]
    # last touch: where they were at the last step they reached (bob ordered on the APP)
    assert groups(last) == [("app", [2, 1, 1]), ("miniprogram", [2, 2, 1]), ("web", [2, 2, 1])]
    assert groups(utm) == [(None, [4, 3, 1]), ("baidu", [1, 1, 1]), ("zhihu", [1, 1, 1])]
    # the optional add counts when it happens after the view (and before the order): not dave's
    assert counts(optional) == [6, 5, 3]
    assert optional.steps[1].optional and optional.steps[2].conversion_from_previous == 0.5
    assert optional.steps[1].avg_seconds_from_previous == round((300 + 3600 + 3600 + 7200 + 60) / 5, 3)


@pytest.mark.parametrize("kind", KINDS)
def test_persons_at_a_step(kind: str, tmp_path: Path) -> None:
    funnel = query(V, A, OC)

    def page(**kw: Any) -> tuple[list[str], str | None]:
        p = funnel_persons(an, FunnelPersonsQuery.model_validate({"funnel": funnel, **kw}))
        return p.items, p.next_cursor

    with store(kind, tmp_path, history()) as an:
        assert page(step=3) == (["alice", "bob", "hank"], None)
        assert page(step=2, status="dropped") == (["carol", "gina"], None)
        assert page(step=1, status="dropped") == (["dave"], None)
        assert page(step=1, limit=4) == (["alice", "bob", "carol", "dave"], "dave")
        assert page(step=1, limit=4, after="dave") == (["gina", "hank"], None)
        funnel = query(V, A, OC, breakdown="channel")
        assert page(step=1, breakdown_value="web") == (["bob", "carol", "hank"], None)
        funnel = query(V, {"event": A, "optional": True}, OC)
        assert page(step=2) == (["alice", "bob", "carol", "gina", "hank"], None)
        funnel = query(V, A, OC, order="unordered")
        assert page(step=2, status="dropped") == (["carol", "dave", "gina"], None)


def test_definitions_that_cannot_run_are_refused() -> None:
    bad = [
        dict(steps=[{"event": V, "optional": True}, {"event": OC}]),
        dict(steps=[{"event": V}, {"event": OC, "optional": True}]),
        dict(steps=[{"event": V}, {"event": OC}], order="strict", exclusions=[{"event": CR}]),
        dict(steps=[{"event": V}, {"event": A, "optional": True}, {"event": OC}], order="unordered"),
        dict(steps=[{"event": V}, {"event": OC}], exclusions=[{"event": CR, "after_step": 2, "before_step": 2}]),
        dict(steps=[{"event": V}, {"event": OC}], window="7 days"),
        dict(steps=[{"event": V}, {"event": OC, "filters": [{"property": "x'; DROP", "op": "eq", "value": 1}]}]),
        dict(steps=[{"event": V}, {"event": OC, "filters": [{"property": "total_fen", "op": "gt", "value": "a"}]}]),
        dict(steps=[{"event": V}]),
    ]
    for body in bad:
        with pytest.raises(ValidationError):
            FunnelQuery.model_validate({"start": on(1), "end": on(7), **body})


@pytest.mark.parametrize("kind", KINDS)
def test_event_names_and_values_are_only_literals(kind: str, tmp_path: Path) -> None:
    odd = "Viewed' OR '1'='1"
    records = [ev("x", at(1, 10), odd), ev("x", at(1, 11), "Order \\ Completed", props={"k": "a'b\\c"})]
    with store(kind, tmp_path, records) as an:
        r = run_funnel(an, query(odd, {"event": "Order \\ Completed",
                                       "filters": [{"property": "k", "op": "eq", "value": "a'b\\c"}]}))
        none = run_funnel(an, query("Product Viewed", OC))
    assert counts(r) == [1, 1]
    assert counts(none) == [0, 0] and none.steps[1].conversion_from_first is None
