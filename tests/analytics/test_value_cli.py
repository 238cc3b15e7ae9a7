"""``siyu report rfm | clv | attribution | economics | spend`` on an embedded data directory: the lifetime-value
contract as the real command, the rest in process (``typer.testing``; starting ``siyu`` takes seconds)."""

from __future__ import annotations

import json
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from siyu.cli import app
from siyu.warehouse.duckdb import DuckDBWarehouse
from tests.analytics import test_value_attribution as touches
from tests.analytics.stores import load
from tests.analytics.value_fixtures import order
from tests.support import SIYU, base_env


def shop_history() -> list:  # type: ignore[type-arg]
    """60 customers with 0-4 repeat purchases in Q1 2026, a few orders after it (a holdout)."""
    out = []
    for i in range(60):
        first = date(2026, 1, 1) + timedelta(days=(i * 2) % 50)
        for k in range(1 + i % 5):
            out.append(order(f"c{i:02d}", first + timedelta(days=k * (3 + i % 7)), 1000 + 100 * (i % 9) + 37 * k))
        if i % 4 == 0:
            out.append(order(f"c{i:02d}", date(2026, 4, 10), 900))
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("cli") / "data"
    wh = DuckDBWarehouse(data / "events.duckdb")
    wh.migrate()
    load(wh, shop_history() + touches.history())
    wh.close()
    return base_env(data)


class Ran:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(env: dict[str, str], *args: str) -> Ran:
    result = CliRunner().invoke(app, ["report", *args], env={"SIYU_DATA_DIR": env["SIYU_DATA_DIR"]})
    return Ran(result.exit_code, result.stdout, result.stderr)


def ok(env: dict[str, str], *args: str) -> Any:
    out = run(env, *args, "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def test_clv_contract(env: dict[str, str]) -> None:
    """``siyu report clv --until DATE --json``, the real command."""
    done = subprocess.run([str(SIYU), "report", "clv", "--until", "2026-03-31", "--members", "3", "--json"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout)
    assert set(out["bgnbd"]) >= {"r", "alpha", "a", "b", "log_likelihood"}
    assert set(out["gamma_gamma"]) >= {"p", "q", "gamma"}
    assert out["customers"] == 64 and len(out["members"]) == 3  # 60 shoppers and A, B, C, E of the touch history
    assert out["holdout"]["end"] == "2026-04-10" and out["holdout"]["actual"] == 15


def test_rfm_and_attribution(env: dict[str, str]) -> None:
    rfm = ok(env, "rfm", "--as-of", "2026-03-31", "--window-days", "90")
    assert sum(s["members"] for s in rfm["segments"]) == rfm["customers"] > 60
    for model in ("first", "last", "last_non_direct", "linear", "time_decay", "position", "markov"):
        out = ok(env, "attribution", "--model", model, "--start", "2026-03-01", "--end", "2026-03-31")
        assert out["model"] == model
        assert round(sum(r["conversions"] for r in out["rows"]), 3) == out["conversions"]
    table = run(env, "attribution", "--model", "markov", "--start", "2026-03-01", "--end", "2026-03-31")
    assert table.returncode == 0 and "removal_effect" in table.stdout and "paid_search" in table.stdout
    csv_out = run(env, "rfm", "--as-of", "2026-03-31", "--format", "csv")
    assert csv_out.stdout.splitlines()[0].startswith("segment,members,share")
    members = ok(env, "rfm", "--as-of", "2026-03-31", "--window-days", "90", "--members", "5")
    assert len(members["members"]) == 5 and {"r", "f", "m", "segment"} <= set(members["members"][0])
    moved = ok(env, "rfm-movement", "2026-02-28", "2026-03-31", "--window-days", "90")
    assert sum(t["members"] for t in moved["transitions"]) == sum(map(sum, moved["matrix"])) >= rfm["customers"]
    bad = run(env, "rfm-movement", "2026-02-30", "2026-03-31")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr


def test_spend_import_and_economics(env: dict[str, str], tmp_path: Path) -> None:
    f = tmp_path / "spend.csv"
    f.write_text("channel,campaign,start,end,amount_fen\npaid_search,spring,2026-03-01,2026-03-31,31000\n")
    assert ok(env, "spend", "import", str(f)) == {"rows": 1, "created": 1, "updated": 0}
    assert ok(env, "spend", "import", str(f)) == {"rows": 1, "created": 0, "updated": 0}
    listed = ok(env, "spend", "list")
    assert [(x["channel"], x["amount_fen"]) for x in listed] == [("paid_search", 31000)]
    eco = ok(env, "economics", "--start", "2026-03-01", "--end", "2026-03-31", "--as-of", "2026-04-30")
    ps = next(r for r in eco["rows"] if r["channel"] == "paid_search")
    assert ps["spend_fen"] == 31000 and ps["new_customers"] == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("channel,start\nx,2026-01-01\n")
    out = run(env, "spend", "import", str(bad))
    assert out.returncode == 1 and "error:" in out.stderr and "Traceback" not in out.stderr
