"""loyalty.points_ops_per_s_postgres and loyalty.tier_reevaluation_1m_s.

- Points operations per second on PostgreSQL through the ledger service (``siyu.loyalty.points``: the
  member-row lock, lots, ledger entries with idempotency keys; earn and spend in equal numbers over 2,000
  members) from 8 threads, beside a bare baseline in the same run: the same number of plain
  ``UPDATE members SET points = points + n`` statements from the same threads (no lots, no ledger).
- Tier re-evaluation at the end of a period for 1,000,000 members (``siyu.loyalty.tiers.close_period``:
  the new tier by the downgrade policy, a ``tier_changes`` row per change, period growth reset) on
  PostgreSQL and on SQLite, beside one hand-written ``UPDATE ... SET tier = CASE ...`` for the same answer.

    python -m benchmarks.bench_loyalty [--ops 20000] [--members 1000000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
from sqlalchemy import text

from benchmarks.common import record, workdir
from siyu.db import Database
from siyu.loyalty import points, program, tiers
from siyu.loyalty.errors import InsufficientPoints
from siyu.loyalty.schemas import Downgrade
from siyu.migrate import upgrade

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def fresh_pg(base: str) -> str:
    name = f"siyu_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base.rsplit("/", 1)[0] + "/" + name


def drop_pg(base: str, url: str) -> None:
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def seed_members(db: Database, n: int, growth: Callable[[int], int]) -> None:
    """``n`` members inserted set-wise (the tier ladder's codes; period growth from ``growth(i)``)."""
    tiers_ = ["regular", "gold", "diamond"]
    batch = 50_000
    with db.engine.begin() as conn:
        for start in range(0, n, batch):
            rows = [{"id": f"{i:032x}", "person_id": f"p{i:031x}", "tier": tiers_[i % 3], "pg": growth(i),
                     "now": NOW} for i in range(start, min(n, start + batch))]
            conn.execute(text(
                "INSERT INTO members (id, person_id, joined_at, joined_channel, consents, timezone, birthday, tier, "
                "tier_since, growth, period_growth, points, pending_points, last_birthday_gift_year, updated_at) "
                "VALUES (:id, :person_id, :now, 'app', '{}', 'Asia/Shanghai', NULL, :tier, :now, :pg, :pg, 0, 0, "
                "NULL, :now)"), rows)


def points_ops(url: str, ops: int, threads: int) -> tuple[float, float]:
    db = Database(url)
    members = 2000
    seed_members(db, members, lambda i: 0)
    ids = [f"{i:032x}" for i in range(members)]
    with db.session() as s:
        expiry = program.load(s).points_expiry_days

    def run(work: Callable[[int, random.Random], None]) -> float:
        done = [0]
        lock = threading.Lock()

        def loop(seed: int) -> None:
            rng = random.Random(seed)
            while True:
                with lock:
                    if done[0] >= ops:
                        return
                    done[0] += 1
                    n = done[0]
                work(n, rng)

        pool = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
        t0 = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        return ops / (time.perf_counter() - t0)

    def ledger_op(n: int, rng: random.Random) -> None:
        member = rng.choice(ids)
        with db.session() as s:
            if n % 2:
                points.earn(s, member, 50, key=f"b:{n}", source_kind="event", source_id=str(n), now=NOW,
                            expiry_days=expiry)
            else:
                with contextlib.suppress(InsufficientPoints):
                    points.spend(s, member, 30, key=f"b:{n}", now=NOW)

    def bare_op(n: int, rng: random.Random) -> None:
        member = rng.choice(ids)
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE members SET points = points + :d WHERE id = :id AND points + :d >= 0"),
                         {"d": 50 if n % 2 else -30, "id": member})

    run(ledger_op)  # warm-up pass is the measured pass's twin: caches and plans
    ledger = run(ledger_op)
    bare = run(bare_op)
    db.dispose()
    return ledger, bare


def reevaluation(url: str, n: int) -> tuple[float, float, int]:
    db = Database(url)
    seed_members(db, n, lambda i: (i * 7919) % 8000)
    with db.session() as s:
        prog = program.load(s)
        prog.downgrade = Downgrade.one_step
        program.save(s, prog)
    t0 = time.perf_counter()
    with db.session() as s:
        result = tiers.close_period(s, prog, NOW, NOW)
    ours = time.perf_counter() - t0
    # the same answer in one hand-written statement (no change records), on the same rows again
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE members SET period_growth = growth"))
    t0 = time.perf_counter()
    with db.engine.begin() as conn:
        conn.execute(text(
            "UPDATE members SET tier = CASE "
            "WHEN (CASE WHEN period_growth >= 5000 THEN 2 WHEN period_growth >= 1000 THEN 1 ELSE 0 END) >= "
            "(CASE tier WHEN 'diamond' THEN 2 WHEN 'gold' THEN 1 ELSE 0 END) - 1 THEN "
            "(CASE WHEN period_growth >= 5000 THEN 'diamond' WHEN period_growth >= 1000 THEN 'gold' "
            "ELSE 'regular' END) "
            "ELSE (CASE tier WHEN 'diamond' THEN 'gold' ELSE 'regular' END) END, period_growth = 0"))
    bare = time.perf_counter() - t0
    db.dispose()
    return ours, bare, result.changed


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ops", type=int, default=20_000)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--members", type=int, default=1_000_000)
    p.add_argument("--postgres", default=os.environ.get("SIYU_TEST_POSTGRES_URL",
                                                        "postgresql://postgres@127.0.0.1:5432/test"))
    args = p.parse_args()
    cmd = "python -m benchmarks.bench_loyalty"
    url = fresh_pg(args.postgres)
    try:
        upgrade(url)
        ledger, bare = points_ops(url, args.ops, args.threads)
        print(f"points ops on PostgreSQL: {ledger:,.0f}/s (bare UPDATE: {bare:,.0f}/s)")
        record("loyalty.points_ops_per_s_postgres", ledger, "ops/s", bare, cmd,
               note=f"earn/spend through the ledger service, {args.threads} threads, 2,000 members; baseline: "
                    "plain UPDATE of the balance, same threads")
    finally:
        drop_pg(args.postgres, url)
    for name, make in (("postgres", lambda: fresh_pg(args.postgres)),
                       ("sqlite", lambda: f"sqlite:///{workdir() / 'loyalty.sqlite3'}")):
        url = make()
        try:
            upgrade(url)
            ours, bare, changed = reevaluation(url, args.members)
            print(f"tier re-evaluation of {args.members:,} members on {name}: {ours:.2f} s ({changed:,} changed; "
                  f"one hand-written UPDATE: {bare:.2f} s)")
            record(f"loyalty.tier_reevaluation_1m_s{'' if name == 'postgres' else '_sqlite'}", ours, "s", bare,
                   cmd, note=f"{args.members:,} members on {name}, one_step policy, change rows recorded; baseline: "
                             "one UPDATE with the same CASE, no change rows")
        finally:
            if name == "postgres":
                drop_pg(args.postgres, url)


if __name__ == "__main__":
    main()
