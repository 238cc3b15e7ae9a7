"""analytics.clv_fit_25k_s: the lifetime-value report for 25,000 customers on DuckDB, as ``siyu report clv``
and ``POST /api/v1/analytics/clv`` run it (``siyu.analytics.value.clv``): the calibration summary in SQL,
BG/NBD and Gamma-Gamma fitted by maximum likelihood (vectorised numpy, analytic gradients, L-BFGS-B),
standard errors, per-customer expectations and value, and the holdout comparison.

Beside it, in the same run, a simple baseline: the same summary from a hand-written single DuckDB query, and
the same two likelihoods written customer by customer (``math.lgamma``) minimised by scipy's L-BFGS-B with
finite-difference gradients. Both must land on the same parameters. The hand-written query alone is timed
too (``summary_query_s``).

The data: 25,000 customers drawn from known parameters (BG/NBD r=0.8, alpha=30 days, a=1.6, b=6; Gamma-Gamma
p=4, q=3, gamma=60,000 fen), acquired over the year before 2026-09-30, their orders (same-day orders are one
purchase) written as ``Order Completed`` events with ``total_fen``, 90 more days of orders as the holdout.

    python -m benchmarks.bench_clv [--customers 25000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from scipy import optimize

from benchmarks.common import ROOT, record
from siyu.analytics.engine import Analytics
from siyu.analytics.value import clv
from siyu.analytics.value.schemas import ClvQuery
from siyu.warehouse.duckdb import DuckDBWarehouse
from siyu.warehouse.record import COLUMNS

VERSION = 1
UNTIL = date(2026, 9, 30)
HOLDOUT_DAYS = 90
BG = {"r": 0.8, "alpha": 30.0, "a": 1.6, "b": 6.0}
GG = {"p": 4.0, "q": 3.0, "gamma": 60_000.0}
_TYPES = {"str": pa.string(), "str?": pa.string(), "json": pa.string(), "ts": pa.timestamp("us"),
          "ts?": pa.timestamp("us")}


def ensure_dataset(customers: int) -> Path:
    path = ROOT / "benchmarks" / ".work" / f"clv-v{VERSION}-{customers}.duckdb"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2026)
    lam = rng.gamma(BG["r"], 1 / BG["alpha"], customers)
    drop = rng.beta(BG["a"], BG["b"], customers)
    nu = rng.gamma(GG["q"], 1 / GG["gamma"], customers)
    birth = rng.uniform(0, 365, customers)  # days before UNTIL
    start = datetime(UNTIL.year, UNTIL.month, UNTIL.day) + timedelta(hours=16)  # the end of UNTIL, local
    rows: dict[str, list[object]] = {name: [] for name, _ in COLUMNS}
    horizon = HOLDOUT_DAYS
    n = 0
    for i in range(customers):
        t, times = 0.0, [0.0]
        while True:  # purchases while alive, up to the end of the holdout
            t += rng.exponential(1 / lam[i])
            if t > birth[i] + horizon:
                break
            times.append(t)
            if rng.random() < drop[i]:
                break
        for t in times:
            n += 1
            when = start - timedelta(days=float(birth[i])) + timedelta(days=t)
            fen = max(1, round(rng.gamma(GG["p"], 1 / nu[i])))
            values = {"message_id": f"m{n}", "source_id": "src-web", "channel": "web", "type": "track",
                      "event": "Order Completed", "anonymous_id": f"a{i}", "user_id": f"u{i}", "timestamp": when,
                      "received_at": when, "properties": f'{{"order_id":"o{n}","total_fen":{fen},"currency":"CNY"}}',
                      "traits": "{}", "context": "{}", "person_id": f"p{i:06d}"}
            for name, _ in COLUMNS:
                rows[name].append(values.get(name))
    table = pa.table({name: pa.array(rows[name], type=_TYPES[kind]) for name, kind in COLUMNS})
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        con.register("t", table)
        con.execute("CREATE TABLE events AS SELECT * FROM t ORDER BY timestamp")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    tmp.rename(path)
    return path


def summary_sql() -> str:
    """(x, t_x, T, m) per customer, hand-written."""
    hi = datetime(UNTIL.year, UNTIL.month, UNTIL.day) + timedelta(hours=16)
    return f"""
        WITH d AS (SELECT person_id, CAST(timestamp + INTERVAL 8 HOUR AS DATE) AS day,
                          sum(CAST(properties->>'total_fen' AS BIGINT)) AS fen
                   FROM events WHERE event = 'Order Completed' AND timestamp < TIMESTAMP '{hi}' GROUP BY 1, 2)
        SELECT count(*) - 1, date_diff('day', min(day), max(day)), date_diff('day', min(day), DATE '{UNTIL}'),
               CAST(sum(fen) - arg_min(fen, day) AS DOUBLE) FROM d GROUP BY person_id ORDER BY person_id"""


def loop_bgnbd(theta: np.ndarray, data: list[tuple[float, float, float, float]]) -> float:
    r, alpha, a, b = (math.exp(v) for v in theta)
    total = 0.0
    for x, tx, T, _ in data:
        head = (math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha) + math.lgamma(a + b) + math.lgamma(b + x)
                - math.lgamma(b) - math.lgamma(a + b + x))
        first = -(r + x) * math.log(alpha + T)
        if x > 0:
            second = math.log(a) - math.log(b + x - 1) - (r + x) * math.log(alpha + tx)
            top = max(first, second)
            total += head + top + math.log(math.exp(first - top) + math.exp(second - top))
        else:
            total += head + first
    return -total


def loop_gg(theta: np.ndarray, data: list[tuple[float, float]], scale: float) -> float:
    p, q, g = (math.exp(v) for v in theta)
    total = 0.0
    for x, m in data:
        m = m / scale
        total += (math.lgamma(p * x + q) - math.lgamma(p * x) - math.lgamma(q) + q * math.log(g)
                  + (p * x - 1) * math.log(m) + p * x * math.log(x) - (p * x + q) * math.log(g + m * x))
    return -total


def baseline(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    rows = con.execute(summary_sql()).fetchall()
    data = [(float(x), float(tx), float(T), float(total) / x if x else 0.0) for x, tx, T, total in rows]
    bg = optimize.minimize(loop_bgnbd, np.log([1.0, 10.0, 1.0, 3.0]), args=(data,), method="L-BFGS-B",
                           bounds=[(-15, 15)] * 4)
    rep = [(x, m) for x, _, _, m in data if x > 0 and m > 0]
    scale = sum(m for _, m in rep) / len(rep)
    gg = optimize.minimize(loop_gg, np.log([2.0, 3.0, 2.0]), args=(rep, scale), method="L-BFGS-B",
                           bounds=[(-15, 15)] * 3)
    r, alpha, a, b = np.exp(bg.x)
    p, q, g = np.exp(gg.x)
    return {"r": r, "alpha": alpha, "a": a, "b": b, "p": p, "q": q, "gamma": g * scale}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=25_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    path = ensure_dataset(args.customers)
    wh = DuckDBWarehouse(path)  # never migrated: the table is the events
    an = Analytics.of(wh, timeout_s=600)
    raw = wh._con.cursor()
    q = ClvQuery(until=UNTIL, horizon_days=365, members=100)
    report = clv.clv(an, q)  # warm
    load_before = os.getloadavg()[0]
    ours, base, summary = [], [], []
    base_params: dict[str, float] = {}
    for _ in range(args.repeat):
        t = time.perf_counter()
        raw.execute(summary_sql()).fetchall()
        summary.append(time.perf_counter() - t)
        t = time.perf_counter()
        report = clv.clv(an, q)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        base_params = baseline(raw)
        base.append(time.perf_counter() - t)
    load = max(load_before, os.getloadavg()[0])
    fitted = {**report.bgnbd.model_dump(include=set(BG)), **report.gamma_gamma.model_dump(include=set(GG))}
    for k, v in fitted.items():
        assert abs(base_params[k] / v - 1) < 2e-3, (k, v, base_params[k])
    value, baseline_s, summary_s = statistics.median(ours), statistics.median(base), statistics.median(summary)
    truth = {**BG, **GG}
    print(f"CLV report of {report.customers:,} customers ({report.repeat_customers:,} repeat): {value:.3f} s "
          f"(median of {args.repeat}; {[round(x, 3) for x in ours]})   baseline (scipy on per-customer loops): "
          f"{baseline_s:.3f} s ({[round(x, 3) for x in base]}), of which the hand-written summary query "
          f"{summary_s:.3f} s   load average up to {load:.2f}")
    print("fitted:", {k: round(v, 4) for k, v in fitted.items()})
    print("truth: ", truth)
    print("holdout:", report.holdout.model_dump(exclude={"by_frequency"}) if report.holdout else None)
    raw.close()
    wh.close()
    if not args.no_record:
        cmd = "python -m benchmarks.bench_clv" + (f" --customers {args.customers}" if args.customers != 25_000 else "")
        record("analytics.clv_fit_25k_s", value, "s", baseline_s, cmd, max_load_average=round(load, 2),
               target="< 5 s", summary_query_s=round(summary_s, 3),
               fitted={k: round(v, 4) for k, v in fitted.items()}, truth=truth,
               note=f"siyu.analytics.value.clv on {report.customers:,} customers (DuckDB): SQL summary, BG/NBD + "
                    "Gamma-Gamma maximum likelihood, standard errors, per-customer value, holdout; median of "
                    f"{args.repeat}. Baseline: the same summary by a hand-written DuckDB query and the same "
                    "likelihoods as per-customer Python loops minimised by scipy L-BFGS-B (numerical gradients)")


if __name__ == "__main__":
    main()
