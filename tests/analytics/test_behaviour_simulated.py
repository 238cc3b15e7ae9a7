"""The simulated brand (three channels, UTM, scenes, shares, orders) loaded once through the tracking API's bulk
path and the worker, copied into DuckDB and ClickHouse (chdb): every behaviour analysis gives identical
answers on both, and the answers have something in them."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from siyu.analytics.behaviour.funnel import funnel_persons, run_funnel
from siyu.analytics.behaviour.funnel_schemas import FunnelPersonsQuery, FunnelQuery
from siyu.analytics.behaviour.kpis import kpis
from siyu.analytics.behaviour.paths import paths
from siyu.analytics.behaviour.retention import retention
from siyu.analytics.behaviour.schemas import KpiQuery, PathsQuery, RetentionQuery
from siyu.analytics.engine import Analytics
from siyu.simulate import SimConfig
from tests.analytics.stores import Stored, on_each_engine, simulated

END = date(2026, 3, 1)
CONFIG = SimConfig(people=300, days=35, seed=23, end_date=END)
PERIOD = {"start": "2026-02-01", "end": "2026-02-28"}
V, A, CO, OC = "Product Viewed", "Product Added", "Checkout Started", "Order Completed"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Stored:
    """Events and identity links as the embedded runtime stored them."""
    return simulated(tmp_path_factory.mktemp("behaviour-simulated"), CONFIG)


def funnel(*steps: str | dict[str, Any], **kw: Any) -> FunnelQuery:
    return FunnelQuery.model_validate({**PERIOD, "steps": [s if isinstance(s, dict) else {"event": s} for s in steps],
                                       **kw})


def run_all(an: Analytics) -> dict[str, BaseModel]:
    out: dict[str, BaseModel] = {
        "kpis": kpis(an, KpiQuery.model_validate({**PERIOD, "by_channel": True, "as_of": "2026-03-01"})),
        "ordered": run_funnel(an, funnel(V, A, CO, OC)),
        "first-touch": run_funnel(an, funnel(V, A, OC, breakdown="channel")),
        "last-touch": run_funnel(an, funnel(V, OC, breakdown="channel", attribution="last_touch", window="14d")),
        "utm": run_funnel(an, funnel("Application Opened", OC, breakdown="utm_source", window="2w")),
        "strict": run_funnel(an, funnel(CO, "Payment Info Entered", OC, order="strict", window="1h")),
        "unordered": run_funnel(an, funnel("Product Shared", OC, A, order="unordered", window="3d")),
        "optional": run_funnel(an, funnel(
            {"event": V, "filters": [{"property": "price", "op": "gt", "value": 50}]},
            {"event": "Coupon Applied", "optional": True}, {"event": OC, "window": "2h"},
            exclusions=[{"event": "Product Removed"}], channels=["miniprogram", "web"])),
        "persons": funnel_persons(an, FunnelPersonsQuery(funnel=funnel(V, A, OC), step=2, limit=25)),
        "persons-dropped": funnel_persons(an, FunnelPersonsQuery(funnel=funnel(V, A, OC), step=1, status="dropped",
                                                                 limit=10_000)),
        "weekly": retention(an, RetentionQuery.model_validate({**PERIOD, "by_channel": True, "periods": 4,
                                                               "as_of": "2026-03-01"})),
        "daily-recurring": retention(an, RetentionQuery.model_validate({
            **PERIOD, "unit": "day", "periods": 7, "mode": "recurring", "start_event": V, "return_event": OC,
            "as_of": "2026-03-01"})),
        "next": paths(an, PathsQuery.model_validate({**PERIOD, "event": "Product Shared", "depth": 2,
                                                     "within": "7d"})),
        "previous": paths(an, PathsQuery.model_validate({**PERIOD, "event": OC, "direction": "previous", "depth": 3,
                                                         "by_channel": False, "include_pages": True})),
    }
    return out


def test_identical_answers_on_both_engines(store: Stored, tmp_path: Path) -> None:
    results = on_each_engine(store, tmp_path,
                             lambda an: {k: v.model_dump(mode="json") for k, v in run_all(an).items()})
    duck, ch = results["duckdb"], results["clickhouse"]
    for name in duck:
        assert duck[name] == ch[name], name

    k = duck["kpis"]["overall"]["current"]
    assert k["active_users"] > 100 and k["orders"] > 10 and k["sharers"] > 0 and k["new_members"] > 0
    ordered = [s["persons"] for s in duck["ordered"]["steps"]]
    assert ordered[0] > ordered[1] > ordered[2] >= ordered[3] > 0
    assert {g["value"] for g in duck["first-touch"]["groups"]} == {"miniprogram", "web", "app"}
    assert len(duck["utm"]["groups"]) > 2 and duck["strict"]["steps"][2]["persons"] > 0
    assert duck["unordered"]["steps"][0]["persons"] > 0 and duck["optional"]["steps"][0]["persons"] > 0
    assert len(duck["persons"]["items"]) == 25 and duck["persons"]["next_cursor"] is not None
    assert len(duck["persons-dropped"]["items"]) == ordered[0] - ordered[1]
    assert len(duck["weekly"]["cohorts"]) >= 4 and any(c["revenue_fen"][0] for c in duck["weekly"]["cohorts"])
    assert duck["next"]["occurrences"] > 0 and duck["next"]["cross_channel"] > 0  # shares lead to APP visits
    assert duck["previous"]["paths"][0]["path"][1] in ("Payment Info Entered", "Coupon Applied")
