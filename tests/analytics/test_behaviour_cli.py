"""``siyu report kpis | funnel | retention | paths`` on an embedded data directory: the funnel's JSON contract
as the real command, the rest in process (``typer.testing``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from siyu.cli import app
from siyu.warehouse.duckdb import DuckDBWarehouse
from tests.analytics import test_behaviour_funnel as funnel_fixture
from tests.analytics.stores import load
from tests.support import SIYU, base_env

PERIOD = ["--start", "2026-03-02", "--end", "2026-03-08"]
STEPS = ["--step", "Product Viewed", "--step", "Product Added", "--step", "Order Completed", "--window", "1d"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("behaviour-cli") / "data"
    wh = DuckDBWarehouse(data / "events.duckdb")
    wh.migrate()
    load(wh, funnel_fixture.history())
    wh.close()
    return base_env(data)


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["report", *args], env={"SIYU_DATA_DIR": env["SIYU_DATA_DIR"]})
    return result.exit_code, result.stdout, result.stderr


def ok(env: dict[str, str], *args: str) -> Any:
    code, out, err = run(env, *args, "--json")
    assert code == 0, out + err
    return json.loads(out)


def test_funnel_json_contract(env: dict[str, str]) -> None:
    """``siyu report funnel ... --json``, the real command."""
    done = subprocess.run([str(SIYU), "report", "funnel", *STEPS, *PERIOD, "--json"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout)
    assert [s["persons"] for s in out["steps"]] == [6, 5, 3]
    assert out["order"] == "ordered" and out["window_seconds"] == 86_400


def test_funnel_options_definition_and_persons(env: dict[str, str], tmp_path: Path) -> None:
    strict = ok(env, "funnel", *STEPS, *PERIOD, "--order", "strict")
    assert [s["persons"] for s in strict["steps"]] == [6, 5, 2]
    excluded = ok(env, "funnel", *STEPS, *PERIOD, "--exclude", "Coupon Removed", "--breakdown", "channel",
                  "--attribution", "last_touch")
    assert [s["persons"] for s in excluded["steps"]] == [6, 5, 2] and excluded["groups"][0]["value"] == "app"
    definition = tmp_path / "funnel.json"
    definition.write_text(json.dumps({"window": "1d", "steps": [
        {"event": "Product Viewed"}, {"event": "Order Completed", "filters": [
            {"property": "total_fen", "op": "gt", "value": 10000}]}]}))
    from_file = ok(env, "funnel", "--definition", str(definition), *PERIOD)
    assert [s["persons"] for s in from_file["steps"]] == [6, 2]
    persons = ok(env, "funnel", *STEPS, *PERIOD, "--persons", "2", "--dropped")
    assert persons == {"items": ["carol", "gina"], "next_cursor": None}
    code, table, _ = run(env, "funnel", *STEPS, *PERIOD)
    assert code == 0 and "Order" in table and "50.0%" in table
    code, csv_out, _ = run(env, "funnel", *STEPS, *PERIOD, "--format", "csv")
    assert csv_out.splitlines()[0] == "step,event,persons,from first,from previous,dropped,median s,avg s"
    code, _, err = run(env, "funnel", "--step", "A", *PERIOD, "--window", "7 days")
    assert code == 2 and "window" in err


def test_kpis_retention_and_paths(env: dict[str, str]) -> None:
    kpis = ok(env, "kpis", *PERIOD, "--channel", "web", "--as-of", "2026-04-30")
    assert kpis["overall"]["current"]["orders"] == 1 and kpis["previous_end"] == "2026-03-01"
    code, table, _ = run(env, "kpis", *PERIOD, "--by-channel", "--no-compare")
    assert code == 0 and "gmv_fen" in table and "miniprog" in table
    cohorts = ok(env, "retention", "--start", "2026-03-01", "--end", "2026-03-08", "--periods", "1",
                 "--as-of", "2026-04-30")
    assert [c["size"] for c in cohorts["cohorts"]] == [1, 6]
    code, csv_out, _ = run(env, "retention", "--start", "2026-03-02", "--end", "2026-03-08", "--periods", "1",
                           "--format", "csv", "--by-channel")
    assert code == 0 and csv_out.splitlines()[0].startswith("cohort,channel,size,period,returned")
    paths = ok(env, "paths", "--event", "Product Added", *PERIOD, "--depth", "2")
    assert paths["occurrences"] == 6 and paths["paths"][0]["path"][0].endswith("Product Added")
    code, table, _ = run(env, "paths", "--event", "Product Added", *PERIOD, "--no-channel")
    assert code == 0 and "Product Added ->" in table
