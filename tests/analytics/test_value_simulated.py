"""The simulated brand (three channels, UTM, scenes, referrers, orders) loaded once, copied into DuckDB and
into ClickHouse (chdb): every value analysis gives identical results on both."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import BaseModel

from siyu.analytics.engine import Analytics
from siyu.analytics.value import attribution, clv, economics, rfm
from siyu.analytics.value.channel_schemas import AttributionQuery, EconomicsQuery, Level, Model, SpendOut
from siyu.analytics.value.schemas import ClvQuery, MovementQuery, RfmQuery
from siyu.simulate import SimConfig
from tests.analytics.stores import Stored, on_each_engine, simulated
from tests.analytics.test_value_economics import NOW

END = date(2026, 3, 1)  # the simulation covers the 60 days before
CONFIG = SimConfig(people=300, days=60, seed=7, end_date=END)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Stored:
    """Events and identity links as the embedded runtime stored them."""
    return simulated(tmp_path_factory.mktemp("simulated"), CONFIG)


def run_all(an: Analytics) -> dict[str, BaseModel]:
    start, end = date(2026, 1, 1), date(2026, 2, 28)
    out: dict[str, BaseModel] = {
        "rfm": rfm.rfm(an, RfmQuery(as_of=end, window_days=60, members=10_000)),
        "movement": rfm.movement(an, MovementQuery(start=date(2026, 2, 1), end=end, window_days=30)),
        "clv": clv.clv(an, ClvQuery(until=date(2026, 2, 14), members=10_000)),
        "economics": economics.economics(an, EconomicsQuery(start=start, end=end, as_of=end, group_by=Level.campaign),
                                         [SpendOut(id="s", channel="paid_search", campaign="spring_tea_2026",
                                                   start=start, end=end, amount_fen=500_000, created_at=NOW,
                                                   updated_at=NOW)]),
        "economics-predicted": economics.economics(an, EconomicsQuery(start=start, end=end, as_of=end, ltv="predicted"),
                                                   []),
    }
    runs = [(model, Level.channel) for model in Model] + [(m, level) for m in (Model.linear, Model.markov)
                                                         for level in (Level.source, Level.campaign)]
    for model, level in runs:
        q = AttributionQuery(start=start, end=end, model=model, group_by=level)
        out[f"attribution-{model.value}-{level.value}"] = attribution.attribution(an, q)
    return out


def test_identical_results_on_both_engines(store: Stored, tmp_path: Path) -> None:
    results = on_each_engine(store, tmp_path, lambda an: {k: v.model_dump() for k, v in run_all(an).items()})
    duck, ch = results["duckdb"], results["clickhouse"]
    for name in duck:
        assert duck[name] == ch[name], name
    # and the simulated brand has what each analysis needs
    assert duck["rfm"]["customers"] > 50 and len(duck["rfm"]["segments"]) >= 5
    assert duck["clv"]["repeat_customers"] > 10 and duck["clv"]["holdout"] is not None
    channels = {r["channel"] for r in duck["attribution-linear-channel"]["rows"]}
    assert {"paid_search", "social", "wechat_share", "direct"} <= channels
    assert any(r["campaign"] == "spring_tea_2026" and r["spend_fen"] for r in duck["economics"]["rows"])
    predicted = {r["channel"]: r for r in duck["economics-predicted"]["rows"]}
    for row in predicted.values():
        if row["new_customers"]:
            # realised revenue plus a positive expected future value
            assert row["ltv_fen"] * row["new_customers"] > row["revenue_fen"]
