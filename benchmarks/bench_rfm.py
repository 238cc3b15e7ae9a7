"""analytics.rfm_1m_s: the RFM report (every member scored 1-5 on recency, frequency and monetary by quintile,
named segments, segment sizes) for 1,000,000 members on DuckDB, as ``POST /api/v1/analytics/rfm`` and
``siyu report rfm`` run it (``siyu.analytics.value.rfm``, through the event store's query path).

Beside it, in the same run, a hand-written single DuckDB query for the same answer (the same ranks, scores
and segment rules, written directly against the table), checked to give the same segment sizes.

The data: 1,000,000 members who each ordered at least once in the year before 2026-11-01 (1 + a geometric
number of orders, ~2.3M ``Order Completed`` events with ``total_fen``) among ~10M events in all (product
views fill the rest), one DuckDB table ``events`` with the event store's columns (``person_id`` filled in,
as in ``benchmarks/analytics_data.py``), generated once inside DuckDB and cached under
``benchmarks/.work/``.

    python -m benchmarks.bench_rfm [--members 1000000] [--events 10000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from benchmarks.common import ROOT, record
from siyu.analytics.engine import Analytics
from siyu.analytics.value import rfm
from siyu.analytics.value.schemas import RfmQuery
from siyu.analytics.value.segments import DEFAULT_SEGMENTS
from siyu.warehouse.duckdb import DuckDBWarehouse
from siyu.warehouse.record import COLUMNS

VERSION = 1
AS_OF = date(2026, 10, 31)  # brand-local; the data ends 2026-11-01 00:00 UTC
WINDOW = 365
_TYPES = {"str": "VARCHAR", "str?": "VARCHAR", "json": "VARCHAR", "ts": "TIMESTAMP", "ts?": "TIMESTAMP"}


def _u(*salt: object) -> str:
    return f"((hash({', '.join(str(s) for s in salt)}) % 1000003) / 1000003.0)"


def ensure_dataset(members: int, events: int) -> Path:
    path = ROOT / "benchmarks" / ".work" / f"rfm-v{VERSION}-{members}-{events}.duckdb"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(str(tmp))
    try:
        end = datetime(AS_OF.year, AS_OF.month, AS_OF.day) + timedelta(hours=16)  # 2026-11-01 00:00 local
        start = end - timedelta(days=WINDOW)
        cols = ", ".join(f'"{n}" {_TYPES[k]}' for n, k in COLUMNS)
        con.execute(f"CREATE TABLE events ({cols})")
        # orders per member: 1 + geometric (mean ~1.8 more); the rest of the events are product views
        con.execute(f"""CREATE TEMP TABLE m AS SELECT i,
            1 + CAST(floor(-ln(1 - {_u('i', 1)} * 0.999999) * 1.8) AS INTEGER) AS orders FROM range({members}) t(i)""")
        n_orders = con.execute("SELECT sum(orders) FROM m").fetchone()[0]  # type: ignore[index]
        views_per = max(0, round((events - n_orders) / members))
        spread = f"to_microseconds(CAST(floor({_u('i', 'k', 'kind')} * {WINDOW * 86_400_000_000}) AS BIGINT))"
        ts = f"TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}' + {spread}"
        fen = f"(2000 + CAST(floor({_u('i', 'k', 2)} * 48000) AS INTEGER))"
        props = (f"""CASE WHEN kind = 'o' THEN '{{"order_id":"o' || i || '-' || k || '","total_fen":' || {fen} """
                 """|| ',"currency":"CNY"}' ELSE '{"product_id":"P' || (k % 40) || '"}' END""")
        rows = (f"SELECT i, unnest(range(orders)) AS k, 'o' AS kind, 'Order Completed' AS event FROM m UNION ALL "
                f"SELECT i, unnest(range({views_per})) AS k, 'v' AS kind, 'Product Viewed' AS event FROM m")
        con.execute(f"""INSERT INTO events SELECT 'm' || kind || '-' || i || '-' || k, 'src-web', 'web', 'track', event,
            'a' || i, 'u' || i, NULL, NULL, {ts}, NULL, NULL, {ts}, {props}, '{{}}', '{{}}',
            NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'p' || i FROM ({rows}) ORDER BY 10""")
        con.execute("CHECKPOINT")
        total = con.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    tmp.rename(path)
    path.with_suffix(".json").write_text(json.dumps({"members": members, "events": total, "orders": n_orders,
                                                     "seconds": round(time.perf_counter() - started, 1)}) + "\n")
    return path


def baseline_sql() -> str:
    """What one would write by hand in DuckDB for the same report."""
    lo = datetime(AS_OF.year, AS_OF.month, AS_OF.day) - timedelta(days=WINDOW - 1, hours=8)
    hi = datetime(AS_OF.year, AS_OF.month, AS_OF.day) + timedelta(hours=16)
    cases = []
    for rule in DEFAULT_SEGMENTS:
        conds = " AND ".join(f"{c} BETWEEN {lo_} AND {hi_}" for c, (lo_, hi_) in
                             (("r", rule.r), ("f", rule.f), ("m", rule.m)))
        cases.append(f"WHEN {conds} THEN '{rule.name.replace(chr(39), chr(39) * 2)}'")
    return f"""
        WITH c AS (
            SELECT person_id,
                   date_diff('day', max(CAST(timestamp + INTERVAL 8 HOUR AS DATE)), DATE '{AS_OF}') AS rec,
                   count(*) AS freq, sum(CAST(properties->>'total_fen' AS BIGINT)) AS mon
            FROM events
            WHERE event = 'Order Completed' AND timestamp >= TIMESTAMP '{lo}' AND timestamp < TIMESTAMP '{hi}'
            GROUP BY person_id),
        s AS (
            SELECT 1 + (5 * (rank() OVER (ORDER BY rec DESC) - 1)) // count(*) OVER () AS r,
                   1 + (5 * (rank() OVER (ORDER BY freq) - 1)) // count(*) OVER () AS f,
                   1 + (5 * (rank() OVER (ORDER BY mon) - 1)) // count(*) OVER () AS m
            FROM c)
        SELECT CASE {' '.join(cases)} ELSE 'Other' END AS segment, count(*) AS members FROM s GROUP BY 1"""


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--members", type=int, default=1_000_000)
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--no-record", action="store_true")
    args = p.parse_args()
    path = ensure_dataset(args.members, args.events)
    info = json.loads(path.with_suffix(".json").read_text())
    wh = DuckDBWarehouse(path)  # never migrated: the table is the events
    an = Analytics.of(wh, timeout_s=600)
    q = RfmQuery(as_of=AS_OF, window_days=WINDOW)
    raw = wh._con.cursor()  # the same database (one configuration per file and process), for the hand-written query
    sql = baseline_sql()
    report = rfm.rfm(an, q)  # warm both (file cache)
    base_rows = raw.execute(sql).fetchall()
    assert report.customers == args.members, report.customers
    assert {s.segment: s.members for s in report.segments} == {str(k): int(v) for k, v in base_rows}
    load_before = os.getloadavg()[0]
    ours, base = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        rfm.rfm(an, q)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        raw.execute(sql).fetchall()
        base.append(time.perf_counter() - t)
    load = max(load_before, os.getloadavg()[0])
    value, baseline = statistics.median(ours), statistics.median(base)
    print(f"RFM of {report.customers:,} members ({info['orders']:,} orders among {info['events']:,} events): "
          f"{value:.3f} s (median of {args.repeat}; runs {[round(x, 3) for x in ours]})   hand-written DuckDB "
          f"query: {baseline:.3f} s ({[round(x, 3) for x in base]})   load average up to {load:.2f}")
    print({s.segment: s.members for s in report.segments})
    raw.close()
    wh.close()
    if not args.no_record:
        cmd = "python -m benchmarks.bench_rfm" + (f" --members {args.members}" if args.members != 1_000_000 else "")
        record("analytics.rfm_1m_s", value, "s", baseline, cmd, max_load_average=round(load, 2), target="< 1 s",
               note=f"RFM report (scores, default segments, sizes) of {report.customers:,} members from "
                    f"{info['orders']:,} orders among {info['events']:,} events, DuckDB, median of {args.repeat}; "
                    "baseline: a hand-written single DuckDB query for the same segment sizes")


if __name__ == "__main__":
    main()
