"""Exclusion steps with property filters, on DuckDB and ClickHouse (chdb) and through the API.

Funnel: Product Added -> Order Completed (window one day, period days 1 to 7, brand-local), excluding a
``Product Viewed`` of ``category = 'x'`` between the two steps. Only an in-between event that matches the
filters disqualifies:

- ann: added, viewed category x (no price), ordered: excluded, but kept when the exclusion also asks
  ``price > 100`` (a missing property matches no comparison);
- ben: added, viewed category y, ordered: kept; cal: added, viewed (no category), ordered: kept;
- dan: viewed category x before adding, then added and ordered: kept (not between the steps);
- eve: added, ordered, then viewed category x: kept;
- fay: added, viewed category x, ordered (excluded), added again later, ordered: kept by the second try;
- gus: added, viewed category x at 50 fen, ordered: excluded by ``category = 'x'`` alone, kept when the
  exclusion also asks ``price > 100``; hal: added, viewed category x at 500 fen, ordered: excluded by both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from siyu.analytics.behaviour.funnel import funnel_persons, run_funnel
from siyu.analytics.behaviour.funnel_schemas import FunnelPersonsQuery, FunnelQuery
from tests.analytics.behaviour_fixtures import at, ev, on
from tests.analytics.stores import load, store
from tests.conftest import Api

V, A, OC = "Product Viewed", "Product Added", "Order Completed"
X_ONLY = [{"property": "category", "value": "x"}]
X_DEAR = [*X_ONLY, {"property": "price", "op": "gt", "value": 100}]


def history() -> list[Any]:
    def tried(person: str, day: int, viewed: dict[str, Any] | None, *, view_at: float = 10.5) -> list[Any]:
        evs = [ev(person, at(day, 10), A), ev(person, at(day, 11), OC, props={"total_fen": 1000})]
        if viewed is not None:
            evs.append(ev(person, at(day, view_at), V, props=viewed))
        return evs

    return [
        *tried("ann", 1, {"category": "x"}), *tried("ben", 1, {"category": "y"}), *tried("cal", 1, {}),
        *tried("dan", 2, {"category": "x"}, view_at=9), *tried("eve", 2, {"category": "x"}, view_at=12),
        *tried("fay", 3, {"category": "x"}), *tried("fay", 4, None),
        *tried("gus", 5, {"category": "x", "price": 50}), *tried("hal", 5, {"category": "x", "price": 500}),
    ]


def query(filters: list[dict[str, Any]] | None, **kw: Any) -> dict[str, Any]:
    exclusions = [] if filters is None else [{"event": V, "filters": filters, "after_step": 1, "before_step": 2}]
    return {"start": on(1).isoformat(), "end": on(7).isoformat(), "window": "1d",
            "steps": [{"event": A}, {"event": OC}], "exclusions": exclusions, **kw}


ALL = ["ann", "ben", "cal", "dan", "eve", "fay", "gus", "hal"]


def test_an_exclusion_disqualifies_only_when_its_filters_match(engine_kind: str, tmp_path: Path) -> None:
    with store(engine_kind, tmp_path, history()) as an:
        def converted(filters: list[dict[str, Any]] | None) -> tuple[list[int], list[str]]:
            q = FunnelQuery.model_validate(query(filters))
            counts = [s.persons for s in run_funnel(an, q).steps]
            page = funnel_persons(an, FunnelPersonsQuery(funnel=q, step=2, status="reached", limit=100))
            return counts, page.items

        plain = converted(None)
        unfiltered = converted([])  # any Product Viewed between the steps
        x_only = converted(X_ONLY)
        x_dear = converted(X_DEAR)
    assert plain == ([8, 8], ALL)
    assert unfiltered == ([8, 3], ["dan", "eve", "fay"])
    assert x_only == ([8, 5], ["ben", "cal", "dan", "eve", "fay"])
    assert x_dear == ([8, 7], ["ann", "ben", "cal", "dan", "eve", "fay", "gus"])  # ann's view has no price


def test_exclusion_filters_through_the_api(api: Api) -> None:
    load(api.runtime.warehouse, history())
    h, c = api.admin_headers(), api.client
    r = c.post("/api/v1/analytics/funnels", json=query(X_ONLY), headers=h)
    assert r.status_code == 200, r.text
    assert [s["persons"] for s in r.json()["steps"]] == [8, 5]
    r = c.post("/api/v1/analytics/funnels/persons",
               json={"funnel": query(X_DEAR), "step": 1, "status": "dropped"}, headers=h)
    assert r.status_code == 200 and r.json()["items"] == ["hal"]
    r = c.post("/api/v1/analytics/funnels", json=query([{"property": "category", "op": "gt", "value": "x"}]),
               headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
