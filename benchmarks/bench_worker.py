"""worker.events_per_s: one warehouse worker draining the embedded bus into DuckDB (decode, deduplicate
against the key table, insert, acknowledge), beside a bare baseline: the same rows inserted into a plain
DuckDB table straight from memory (no bus, no deduplication), measured in the same run.

    python -m benchmarks.bench_worker [--events 500000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime

import duckdb
import msgspec

from benchmarks.common import event, record, workdir
from siyu.bus.base import Message
from siyu.bus.sqlite import SqliteBus
from siyu.collect.message import build_record
from siyu.collect.wire import incoming_decoder
from siyu.config import Settings
from siyu.kit.ids import new_id
from siyu.sources.service import SourceAuth
from siyu.warehouse.base import rows_to_arrow
from siyu.warehouse.duckdb import DuckDBWarehouse
from siyu.warehouse.record import decode_rows, encode_rows
from siyu.worker.warehouse import GROUP, PATTERNS, WarehouseWorker


def messages(n: int) -> list[Message]:
    ts = datetime.now(UTC).isoformat()
    src = SourceAuth("bench-source", "web", None)
    now = time.time_ns() // 1000
    out = []
    for start in range(0, n, 100):
        recs = [
            build_record(incoming_decoder.decode(msgspec.json.encode(event(i, ts))), "track", src, batch_context=None,
                         batch_sent_at=None, received_us=now, client_ip="127.0.0.1", tolerance_us=5_000_000,
                         utf8_checked=False)
            for i in range(start, min(n, start + 100))
        ]
        out.append(Message(id=new_id(), topic=PATTERNS[0], body=encode_rows(recs)))
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=500_000)
    p.add_argument("--batch", type=int, default=50_000, help="SIYU_WORKER_BATCH_EVENTS")
    args = p.parse_args()
    work = workdir()
    msgs = messages(args.events)

    bus = SqliteBus(work / "bus.sqlite3")
    bus.declare_group_sync(GROUP, PATTERNS)
    for i in range(0, len(msgs), 500):
        bus.publish_sync(msgs[i:i + 500])
    bus.close_sync()
    warehouse = DuckDBWarehouse(work / "events.duckdb")
    warehouse.migrate()
    settings = Settings(data_dir=work, worker_batch_events=args.batch)
    worker = WarehouseWorker(settings, SqliteBus(work / "bus.sqlite3"), warehouse)

    async def until_stored() -> float:
        stop = asyncio.Event()
        started = time.perf_counter()
        task = asyncio.create_task(worker.run(stop))
        while worker.stored < args.events and not task.done():  # noqa: ASYNC110 - polling a counter
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
        stop.set()
        await task
        return elapsed

    elapsed = asyncio.run(until_stored())
    assert worker.stored == args.events and warehouse.count() == args.events, (worker.stored, warehouse.count())
    rate = args.events / elapsed
    warehouse.close()

    # Baseline: the same rows, already in memory, into a plain DuckDB table in 20,000-row inserts.
    rows = [r for m in msgs for r in decode_rows(m.body)]
    con = duckdb.connect(str(work / "baseline.duckdb"))
    table0 = rows_to_arrow(rows[:1])
    con.register("t0", table0)
    con.execute("CREATE TABLE events AS SELECT * FROM t0 LIMIT 0")
    started = time.perf_counter()
    for i in range(0, len(rows), 20_000):
        con.register("chunk", rows_to_arrow(rows[i:i + 20_000]))
        con.execute("INSERT INTO events SELECT * FROM chunk")
    b_elapsed = time.perf_counter() - started
    con.close()
    base = args.events / b_elapsed
    cmd = ("python -m benchmarks.bench_worker " + " ".join(sys.argv[1:])).strip()
    record("worker.events_per_s", rate, "events/s", base, cmd,
           note="one worker: embedded bus -> DuckDB with exactly-once key table; baseline: plain arrow inserts")
    print(f"worker: {rate:,.0f} events/s   baseline (plain insert): {base:,.0f} events/s")


if __name__ == "__main__":
    main()
