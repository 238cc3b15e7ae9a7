"""analytics.retention_10m_s: 12 weekly first-time retention cohorts (a person's cohort is the ISO week of their
first event ever; returning = any event), each followed for up to 12 weeks, on 10,000,000 events of
1,000,000 persons in DuckDB, through ``siyu.analytics.behaviour.retention.retention`` (the SQL the API and the
CLI run, built for either engine, plus reading and shaping the answer).

Beside it, in the same run and on the same connection, a hand-written single DuckDB query for the same
table (cohort sizes and persons returning per week); also timed, not recorded: the same cohorts broken down
by acquisition channel with cumulative revenue (lifetime-value curves). Runs alternate after one warm-up
each; the figure is the median of ``--runs``.

    python -m benchmarks.bench_retention [--events 10000000] [--persons 1000000] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date, timedelta
from typing import Any

from benchmarks.analytics_data import DAYS, END, ensure_dataset, open_dataset
from benchmarks.common import record
from siyu.analytics.behaviour.retention import add, retention, trunc
from siyu.analytics.behaviour.schemas import RetentionQuery, Unit
from siyu.analytics.engine import Analytics, day_start

PERIODS = 12


def baseline_sql(an: Analytics, first: date, after: date, horizon: date) -> str:
    def ts(d: date) -> str:
        return day_start(an, d).strftime("TIMESTAMP '%Y-%m-%d %H:%M:%S'")

    return f"""
WITH a AS (
  SELECT DISTINCT hash(coalesce(person_id, anonymous_id, user_id, message_id), person_id IS NULL) AS p,
         CAST(date_trunc('week', CAST(timestamp + INTERVAL 480 MINUTE AS DATE)) AS DATE) AS w
  FROM events WHERE timestamp < {ts(horizon)}),
c AS (SELECT p, min(w) AS c FROM a GROUP BY p HAVING min(w) >= DATE '{first}' AND min(w) < DATE '{after}')
SELECT c.c, date_diff('week', c.c, a.w) AS n, count(*) AS persons
FROM c JOIN a ON a.p = c.p WHERE a.w >= c.c AND date_diff('week', c.c, a.w) <= {PERIODS}
GROUP BY ALL ORDER BY 1, 2
"""


def table(cohorts: list[Any]) -> dict[tuple[str, int], int]:
    return {(c.cohort.isoformat(), n): r for c in cohorts for n, r in enumerate(c.returned) if r}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--no-record", action="store_true", help="Print, do not write results")
    args = ap.parse_args()
    an = open_dataset(ensure_dataset(args.events, args.persons))
    start = trunc(Unit.week, END - timedelta(days=DAYS)) + timedelta(weeks=1)  # the first whole week
    end = start + timedelta(weeks=11)
    q = RetentionQuery(start=start, end=end, unit=Unit.week, periods=PERIODS, revenue=False, as_of=END)
    full = q.model_copy(update={"by_channel": True, "revenue": True})
    after = add(Unit.week, end, 1)
    base = baseline_sql(an, start, after, add(Unit.week, after, PERIODS))
    got = retention(an, q).cohorts
    want = {(str(c), int(n)): int(v) for c, n, v in an.rows(base)}
    if len(got) != 12 or table(got) != want:
        sys.exit(f"different answers: {len(got)} cohorts; ours {sorted(table(got).items())[:5]}, "
                 f"baseline {sorted(want.items())[:5]}")
    retention(an, full)
    load = os.getloadavg()[0]
    t_ours, t_base, t_full = [], [], []
    for _ in range(args.runs):
        t = time.perf_counter()
        retention(an, q)
        t_ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        an.rows(base)
        t_base.append(time.perf_counter() - t)
        t = time.perf_counter()
        retention(an, full)
        t_full.append(time.perf_counter() - t)
    load = max(load, os.getloadavg()[0])
    mine, baseline, with_ltv = (statistics.median(x) for x in (t_ours, t_base, t_full))
    print(f"12 weekly cohorts ({sum(c.size for c in got)} persons): ours {mine:.3f} s "
          f"(runs {[round(x, 3) for x in t_ours]}), baseline {baseline:.3f} s (runs {[round(x, 3) for x in t_base]}); "
          f"by channel with revenue {with_ltv:.3f} s; load average up to {load:.2f}")
    if args.no_record:
        return
    command = f"python -m benchmarks.bench_retention --events {args.events} --persons {args.persons} --runs {args.runs}"
    record("analytics.retention_10m_s", mine, "s", baseline, command, events=args.events, persons=args.persons,
           target_s=1.0, runs=args.runs, by_channel_with_revenue_s=round(with_ltv, 3), max_load_average=round(load, 2))


if __name__ == "__main__":
    main()
