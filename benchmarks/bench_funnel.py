"""analytics.funnel_10m_s: a 3-step ordered funnel (Product Viewed -> Product Added -> Order Completed, 7-day
window, every view a possible start) with time to convert, over the last 30 days (the default period of
``siyu report funnel``) of a store of 10,000,000 events of 1,000,000 persons in DuckDB, through
``siyu.analytics.behaviour.funnel.run_funnel`` (the SQL the API and the CLI run, built for either engine, plus
reading and shaping the answer). Also measured, and stored with it: the same funnel over all 90 days.

Beside it, in the same run and on the same connection: ``analytics.funnel_10m_baseline_s``, a hand-written
single DuckDB query for the same answer (persons per step, sums and medians of the times), written directly
for DuckDB. Runs alternate, after one warm-up each; the figure is the median of ``--runs``.

    python -m benchmarks.bench_funnel [--events 10000000] [--persons 1000000] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from typing import Any

from benchmarks.analytics_data import DAYS, END, ensure_dataset, open_dataset
from benchmarks.common import record
from siyu.analytics.behaviour.funnel import run_funnel
from siyu.analytics.behaviour.funnel_schemas import FunnelQuery
from siyu.analytics.behaviour.sql import Bounds
from siyu.analytics.engine import Analytics

V, A, OC = "Product Viewed", "Product Added", "Order Completed"
WINDOW_US = 7 * 86_400 * 1_000_000


def baseline_sql(b: Bounds) -> str:
    lo, hi = b.lo.strftime("%Y-%m-%d %H:%M:%S"), b.hi.strftime("%Y-%m-%d %H:%M:%S")
    return f"""
WITH e AS (
  SELECT hash(coalesce(person_id, anonymous_id, user_id, message_id), person_id IS NULL) AS p,
         epoch_us(timestamp) AS t, event
  FROM events
  WHERE event IN ('{V}', '{A}', '{OC}')
    AND timestamp >= TIMESTAMP '{lo}' AND timestamp < TIMESTAMP '{hi}' + INTERVAL 7 DAY),
v AS (SELECT p, t FROM e WHERE event = '{V}' AND t < {b.hi_us}),
a AS (SELECT p, t FROM e WHERE event = '{A}' GROUP BY p, t),  -- grouped: the hash join builds on it
o AS (SELECT p, t FROM e WHERE event = '{OC}' GROUP BY p, t),
va AS (SELECT a.p, a.t, max(v.t) AS tv FROM a JOIN v ON v.p = a.p AND v.t < a.t AND v.t >= a.t - {WINDOW_US}
       GROUP BY a.p, a.t),
vao AS (SELECT o.p, o.t, max(va.t) AS ta, max(va.tv) AS tv FROM o JOIN va
        ON va.p = o.p AND va.t < o.t AND va.tv >= o.t - {WINDOW_US} GROUP BY o.p, o.t),
f2 AS (SELECT p, arg_min(t - tv, t) AS dp FROM va GROUP BY p),
f3 AS (SELECT p, arg_min(t - ta, t) AS dp, arg_min(t - tv, t) AS df FROM vao GROUP BY p)
SELECT (SELECT count(DISTINCT p) FROM v) AS r1,
       (SELECT count(*) FROM f2) AS r2, (SELECT sum(dp) FROM f2) AS s2, (SELECT quantile_disc(dp, 0.5) FROM f2) AS m2,
       (SELECT count(*) FROM f3) AS r3, (SELECT sum(dp) FROM f3) AS s3, (SELECT quantile_disc(dp, 0.5) FROM f3) AS m3,
       (SELECT sum(df) FROM f3) AS sf3, (SELECT quantile_disc(df, 0.5) FROM f3) AS mf3
"""


def ours(an: Analytics, q: FunnelQuery) -> list[Any]:
    r = run_funnel(an, q)
    s1, s2, s3 = r.steps
    return [s1.persons, s2.persons, s2.median_seconds_from_previous, s3.persons, s3.median_seconds_from_previous,
            s3.median_seconds_from_first]


def theirs(an: Analytics, sql: str) -> list[Any]:
    r1, r2, _, m2, r3, _, m3, _, mf3 = an.rows(sql, 1)[0]
    return [r1, r2, round(m2 / 1e6, 3), r3, round(m3 / 1e6, 3), round(mf3 / 1e6, 3)]


def timed(an: Analytics, q: FunnelQuery, runs: int) -> tuple[list[Any], float, float, list[float], list[float]]:
    """(answer, our median, baseline median, our runs, baseline runs) for one funnel."""
    base = baseline_sql(Bounds.of(an, q.start, q.end))
    got, want = ours(an, q), theirs(an, base)  # warm-up, and the same answer
    if got != want:
        sys.exit(f"different answers: ours {got}, baseline {want}")
    t_ours, t_base = [], []
    for _ in range(runs):
        t = time.perf_counter()
        ours(an, q)
        t_ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        theirs(an, base)
        t_base.append(time.perf_counter() - t)
    return got, statistics.median(t_ours), statistics.median(t_base), t_ours, t_base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--no-record", action="store_true", help="Print, do not write results")
    args = ap.parse_args()
    an = open_dataset(ensure_dataset(args.events, args.persons))
    load = os.getloadavg()[0]
    found: dict[int, tuple[list[Any], float, float]] = {}
    for days in (30, DAYS):
        start = END - timedelta(days=days if days == DAYS else days - 1)  # all of it: the day before too (UTC+8)
        q = FunnelQuery.model_validate({"start": start, "end": END, "window": "7d",
                                        "steps": [{"event": V}, {"event": A}, {"event": OC}]})
        got, mine, baseline, t_ours, t_base = timed(an, q, args.runs)
        found[days] = got, mine, baseline
        print(f"{days} days {got}: ours {mine:.3f} s (runs {[round(x, 3) for x in t_ours]}), "
              f"baseline {baseline:.3f} s (runs {[round(x, 3) for x in t_base]})")
    load = max(load, os.getloadavg()[0])
    print(f"load average up to {load:.2f}")
    if args.no_record:
        return
    command = f"python -m benchmarks.bench_funnel --events {args.events} --persons {args.persons} --runs {args.runs}"
    got, mine, baseline = found[30]
    extra = {"events": args.events, "persons": args.persons, "target_s": 0.5, "runs": args.runs,
             "persons_per_step": [got[0], got[1], got[3]], "all_90_days_s": round(found[DAYS][1], 3),
             "all_90_days_baseline_s": round(found[DAYS][2], 3), "max_load_average": round(load, 2)}
    record("analytics.funnel_10m_s", mine, "s", baseline, command, **extra)
    record("analytics.funnel_10m_baseline_s", baseline, "s", None, command, **extra)


if __name__ == "__main__":
    main()
