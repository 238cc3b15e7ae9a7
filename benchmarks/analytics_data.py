"""The analytics benchmarks' data set: about 10,000,000 events of 1,000,000 persons, made once and reused.

    from benchmarks.analytics_data import ensure_dataset, open_dataset
    path = ensure_dataset(events=10_000_000, persons=1_000_000)   # a DuckDB file, cached
    analytics = open_dataset(path)                                  # siyu.analytics.engine.Analytics

The file holds one table, ``events``, with the columns of the event store's ``events`` view
(``siyu.warehouse.record.COLUMNS``, ``person_id`` filled in), so analyses run on it unchanged. The
identity join that the real view makes at query time is left out: it is measured by the identity
benchmarks, and here it would only add the same cost to an analysis and to its hand-written baseline.
Never call ``migrate()`` on it (that would turn the table into the view's ``event_rows``).

The data is a deterministic function of (events, persons) (hashes, no random state), generated inside
DuckDB in about a minute, and cached under ``benchmarks/.work/`` (git-ignored):

- persons: 75% resolved (``person_id`` ``p<i>``), the rest anonymous browsers (``anonymous_id`` only);
  half of the resolved ones are members (``user_id`` from their second visit on); a home channel
  (mini-program 55%, web 25%, APP 20%) and, on the web, a UTM source;
- visits: every person has a first visit on a day of a 90-day window ending 2026-11-01 (UTC) and
  geometrically many return visits days later (15% on another channel: mini-program -> APP moves);
- a visit is ``Application Opened``, ``Signed Up`` (a member's first visit), 1-4 ``Product Viewed``,
  then maybe ``Product Added`` -> ``Checkout Started`` -> ``Order Completed`` (``total_fen``,
  ``currency``, ``products``) and ``Product Shared``, 20-60 s apart.

Visits are generated for slightly more than ``events`` rows and the last ones (return visits first, never
a person's first visit) are cut to give exactly ``events`` rows.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from siyu.warehouse.record import COLUMNS

if TYPE_CHECKING:
    from siyu.analytics.engine import Analytics

VERSION = 1
DAYS = 90
END = date(2026, 11, 1)
ROOT = Path(__file__).resolve().parent / ".work"

_TYPES = {"str": "VARCHAR", "str?": "VARCHAR", "json": "VARCHAR", "ts": "TIMESTAMP", "ts?": "TIMESTAMP"}


def dataset_path(events: int = 10_000_000, persons: int = 1_000_000) -> Path:
    return ROOT / f"analytics-v{VERSION}-{events}-{persons}.duckdb"


def ensure_dataset(events: int = 10_000_000, persons: int = 1_000_000, *, quiet: bool = False) -> Path:
    """The DuckDB file with ``events`` rows of ``persons`` persons (generated on first use)."""
    path = dataset_path(events, persons)
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path
    ROOT.mkdir(parents=True, exist_ok=True)
    for p in (path, meta, path.with_suffix(".duckdb.wal"), path.with_suffix(".tmp")):
        p.unlink(missing_ok=True)
    tmp = path.with_suffix(".tmp")
    started = time.perf_counter()
    con = duckdb.connect(str(tmp))
    try:
        _generate(con, events, persons)
        counts = con.execute("SELECT count(*), count(DISTINCT coalesce(person_id, 'anon:' || anonymous_id)), "
                             "min(timestamp), max(timestamp) FROM events").fetchone()
    finally:
        con.close()
    assert counts is not None
    tmp.rename(path)
    info = {"version": VERSION, "events": int(counts[0]), "persons": int(counts[1]),
            "first": str(counts[2]), "last": str(counts[3]), "seconds": round(time.perf_counter() - started, 1),
            "made": datetime.now(UTC).isoformat(timespec="seconds")}
    meta.write_text(json.dumps(info, indent=2) + "\n")
    if not quiet:
        print(f"analytics data set: {info} -> {path}")
    return path


def open_dataset(path: Path) -> Analytics:
    """The data set as an :class:`~siyu.analytics.engine.Analytics` (DuckDB, never migrated)."""
    from siyu.analytics.engine import Analytics
    from siyu.warehouse.duckdb import DuckDBWarehouse

    return Analytics.of(DuckDBWarehouse(path), timeout_s=600)


def _u(*salt: object) -> str:
    """A uniform number in [0, 1) from a hash of the given SQL expressions (deterministic)."""
    return f"((hash({', '.join(str(s) for s in salt)}) % 1000003) / 1000003.0)"


def _generate(con: duckdb.DuckDBPyConnection, events: int, persons: int) -> None:
    con.execute("SET preserve_insertion_order = true")
    start = datetime(END.year, END.month, END.day) - timedelta(days=DAYS)
    # return visits per person: tuned until slightly more than `events` rows come out
    extra = max(events / persons / 4.6 - 1.0, 0.01)
    for _ in range(6):
        _visits(con, persons, extra)
        row = con.execute("SELECT sum(CASE WHEN k = 0 THEN n END), sum(CASE WHEN k > 0 THEN n END) FROM ("
                          "SELECT k, 2 + views + CAST(k = 0 AND member AS INT) + CAST(r_add < 0.25 AS INT) * "
                          "(1 + CAST(r_checkout < 0.6 AS INT) * (1 + CAST(r_pay < 0.7 AS INT))) "
                          "- CAST(channel <> 'miniprogram' OR r_share >= 0.12 AS INT) AS n FROM visits)").fetchone()
        assert row is not None
        first, later = int(row[0] or 0), int(row[1] or 0)
        if first + later >= events:
            break
        extra *= (events * 1.02 - first) / max(later, 1)
    else:
        raise RuntimeError("could not generate enough events (too few persons for so many events?)")

    con.execute(f"""
        CREATE TEMP TABLE visit_events AS
        WITH named AS (
            SELECT *, list_concat(
                ['Application Opened'],
                CASE WHEN k = 0 AND member THEN ['Signed Up'] ELSE [] END,
                list_transform(range(views), lambda x: 'Product Viewed'),
                CASE WHEN r_add < 0.25 THEN ['Product Added'] ELSE [] END,
                CASE WHEN r_add < 0.25 AND r_checkout < 0.6 THEN ['Checkout Started'] ELSE [] END,
                CASE WHEN r_add < 0.25 AND r_checkout < 0.6 AND r_pay < 0.7 THEN ['Order Completed'] ELSE [] END,
                CASE WHEN channel = 'miniprogram' AND r_share < 0.12 THEN ['Product Shared'] ELSE [] END
            ) AS names
            FROM visits
        ), flat AS (
            SELECT i, k, known, member, source, channel, day, second, product,
                   unnest(names) AS event, unnest(range(len(names))) AS pos
            FROM named
        ), numbered AS (
            SELECT *, sum(1) OVER (ORDER BY (k > 0), i, k, pos ROWS UNBOUNDED PRECEDING) AS n FROM flat
        )
        SELECT * FROM numbered WHERE n <= {events}
    """)
    cols = ", ".join(f'"{name}" {_TYPES[kind]}' for name, kind in COLUMNS)
    con.execute(f"CREATE TABLE events ({cols})")
    product = "'P' || lpad(CAST(product + 1 AS VARCHAR), 3, '0')"
    price = "(5900 + product * 700)"
    con.execute(f"""
        INSERT INTO events
        SELECT 'm' || CAST(n AS VARCHAR) AS message_id,
               'src-' || channel AS source_id,
               channel,
               'track' AS type,
               event,
               'a' || CAST(i AS VARCHAR) || CASE WHEN known AND k > 0 AND {_u('i', 'k', 15)} < 0.3
                                                  THEN '-' || channel ELSE '' END AS anonymous_id,
               CASE WHEN member AND k > 0 THEN 'u' || CAST(i AS VARCHAR) END AS user_id,
               NULL AS group_id,
               NULL AS previous_id,
               ts AS timestamp,
               NULL AS original_timestamp,
               NULL AS sent_at,
               ts AS received_at,
               CASE event
                 WHEN 'Product Viewed' THEN '{{"product_id":"' || {product} || '","price":' || {price} || '}}'
                 WHEN 'Product Added' THEN '{{"product_id":"' || {product} || '","quantity":1,"price":'
                                           || {price} || '}}'
                 WHEN 'Checkout Started' THEN '{{"order_id":"o' || CAST(n AS VARCHAR) || '","value":'
                                              || {price} || '}}'
                 WHEN 'Order Completed' THEN '{{"order_id":"o' || CAST(n AS VARCHAR) || '","total_fen":'
                     || CAST({price} AS VARCHAR) || ',"currency":"CNY","products":[{{"product_id":"'
                     || {product} || '","quantity":1,"price":' || CAST({price} / 100.0 AS VARCHAR) || '}}]}}'
                 WHEN 'Product Shared' THEN '{{"product_id":"' || {product} || '","share_via":"wechat_friend"}}'
                 WHEN 'Signed Up' THEN '{{"method":"sms_code"}}'
                 ELSE '{{}}' END AS properties,
               '{{}}' AS traits,
               '{{}}' AS context,
               CASE WHEN channel = 'web' AND k = 0 THEN source END AS utm_source,
               CASE WHEN channel = 'web' AND k = 0 AND source IS NOT NULL
                    THEN CASE source WHEN 'baidu' THEN 'cpc' WHEN 'newsletter' THEN 'email' ELSE 'social' END
                    END AS utm_medium,
               CASE WHEN channel = 'web' AND k = 0 AND source IS NOT NULL THEN 'autumn' END AS utm_campaign,
               NULL AS utm_term,
               NULL AS utm_content,
               CASE WHEN channel = 'miniprogram' THEN ['1007', '1047', '1089', '1001'][
                   1 + CAST(floor({_u('i', 'k', 16)} * 4) AS INTEGER)] END AS scene,
               NULL AS page_url,
               NULL AS referrer,
               NULL AS ip,
               CASE WHEN known THEN 'p' || CAST(i AS VARCHAR) END AS person_id
        FROM (SELECT *, TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}' + to_days(day) + to_seconds(second + pos * 35)
                        + to_microseconds(CAST(n % 1000 AS BIGINT)) AS ts
              FROM visit_events)
        ORDER BY ts, message_id
    """)
    for table in ("visit_events", "visits", "persons"):
        con.execute(f"DROP TABLE {table}")
    con.execute("CHECKPOINT")


def _visits(con: duckdb.DuckDBPyConnection, persons: int, extra: float) -> None:
    con.execute("DROP TABLE IF EXISTS persons")
    con.execute("DROP TABLE IF EXISTS visits")
    con.execute(f"""
        CREATE TEMP TABLE persons AS
        SELECT i,
               {_u('i', 1)} < 0.75 AS known,
               {_u('i', 1)} < 0.375 AS member,
               CAST(floor({_u('i', 2)} * {DAYS}) AS INTEGER) AS first_day,
               CASE WHEN {_u('i', 3)} < 0.55 THEN 'miniprogram' WHEN {_u('i', 3)} < 0.80 THEN 'web'
                    ELSE 'app' END AS home,
               ['baidu', 'xiaohongshu', 'zhihu', 'newsletter', 'douyin', NULL][
                   1 + CAST(floor({_u('i', 4)} * 6) AS INTEGER)] AS source,
               -- return visits: geometric with mean `extra`
               CAST(floor(ln(1 - {_u('i', 5)} * 0.999999) / ln({extra} / ({extra} + 1))) AS INTEGER) AS returns
        FROM range({persons}) t(i)
    """)
    con.execute(f"""
        CREATE TEMP TABLE visits AS
        WITH v AS (
            SELECT p.*, unnest(range(p.returns + 1)) AS k FROM persons p
        )
        SELECT i, k, known, member, source,
               CASE WHEN k > 0 AND {_u('i', 'k', 6)} < 0.15
                    THEN CASE home WHEN 'miniprogram' THEN 'app' WHEN 'app' THEN 'miniprogram' ELSE 'app' END
                    ELSE home END AS channel,
               first_day + CASE WHEN k = 0 THEN 0
                                ELSE 1 + CAST(floor(-ln(1 - {_u('i', 'k', 7)} * 0.999999) * 14) AS INTEGER) END
                   AS day,
               CAST(floor({_u('i', 'k', 8)} * 86400) AS INTEGER) AS second,
               1 + CAST(floor({_u('i', 'k', 9)} * 4) AS INTEGER) AS views,
               {_u('i', 'k', 10)} AS r_add, {_u('i', 'k', 11)} AS r_checkout, {_u('i', 'k', 12)} AS r_pay,
               {_u('i', 'k', 13)} AS r_share,
               CAST(floor({_u('i', 'k', 14)} * 40) AS INTEGER) AS product
        FROM v
    """)
    con.execute(f"DELETE FROM visits WHERE day >= {DAYS}")


def main() -> None:
    ap = argparse.ArgumentParser(description="Generate (or find) the analytics benchmarks' data set.")
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--persons", type=int, default=1_000_000)
    args = ap.parse_args()
    path = ensure_dataset(args.events, args.persons)
    print(path, path.with_suffix(".json").read_text())


if __name__ == "__main__":
    main()
