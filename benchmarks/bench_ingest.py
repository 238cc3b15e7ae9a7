"""ingest.batch_events_per_s: 100-event batches through POST /v1/batch on the embedded runtime, counted
when answered 200 (i.e. accepted and durable on the bus), beside ingest.baseline_events_per_s: the same
requests against a bare ASGI app that only parses the JSON and inserts it into SQLite.

The server runs without its worker (`siyu serve --no-worker`) so that the figure is the ingest path;
`worker.events_per_s` measures the store side. After the run the bus is checked to hold every event.

    python -m benchmarks.bench_ingest [--events 300000] [--concurrency 16] [--processes 2]

With ``--processes N`` the server runs N API processes on the port (``siyu serve --processes N``) and the
baseline app N uvicorn workers, so both use the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sqlite3
import sys
from datetime import UTC, datetime

from benchmarks.common import BIN, Proc, create_source, event, record, siyu_env, workdir
from benchmarks.loadgen import build_request, closed_loop

PORT = 8931


def batches(n_events: int, key: str) -> list[bytes]:
    ts = datetime.now(UTC).isoformat()
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    out = []
    for start in range(0, n_events, 100):
        body = json.dumps({"batch": [event(i, ts) for i in range(start, start + 100)], "sentAt": ts}).encode()
        out.append(build_request("/v1/batch", body, {"Authorization": auth, "Content-Type": "application/json"}))
    return out


def run(reqs: list[bytes], concurrency: int) -> tuple[float, dict[int, int]]:
    warm = reqs[:200]
    asyncio.run(closed_loop("127.0.0.1", PORT, warm, concurrency))
    return asyncio.run(closed_loop("127.0.0.1", PORT, reqs[200:], concurrency))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=300_000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--processes", type=int, default=1)
    args = p.parse_args()
    work = workdir()
    env = siyu_env(work / "siyu")
    key = create_source(env)
    reqs = batches(args.events + 20_000, key)
    measured_events = (len(reqs) - 200) * 100

    serve = ["serve", "--port", str(PORT), "--no-worker", "--processes", str(args.processes)]
    server = Proc([str(BIN / "siyu"), *serve], env,
                  f"http://127.0.0.1:{PORT}", work / "serve.log")
    try:
        server.wait_ready()
        elapsed, statuses = run(reqs, args.concurrency)
    finally:
        server.stop()
    assert statuses == {200: len(reqs) - 200}, statuses
    conn = sqlite3.connect(work / "siyu" / "bus.sqlite3")
    on_bus = conn.execute("SELECT count(*) FROM bus_queue WHERE grp = 'warehouse'").fetchone()[0] * 100
    conn.close()
    assert on_bus == len(reqs) * 100, (on_bus, len(reqs) * 100)
    siyu_rate = measured_events / elapsed

    benv = {**env, "BASELINE_DB": str(work / "baseline.sqlite3")}
    base = Proc([str(BIN / "uvicorn"), "benchmarks.baseline_app:app", "--port", str(PORT), "--loop", "uvloop",
                 "--http", "httptools", "--no-access-log", "--log-level", "warning", "--workers",
                 str(args.processes)], benv,
                f"http://127.0.0.1:{PORT}", work / "baseline.log")
    try:
        base.wait_ready("/")
        b_elapsed, b_statuses = run(reqs, args.concurrency)
    finally:
        base.stop()
    assert b_statuses == {200: len(reqs) - 200}, b_statuses
    base_rate = measured_events / b_elapsed

    cmd = "python -m benchmarks.bench_ingest " + " ".join(sys.argv[1:])
    record("ingest.batch_events_per_s", siyu_rate, "events/s", base_rate, cmd.strip(),
           note="100-event batches, answered 200 = durable on the embedded bus; server without worker")
    record("ingest.baseline_events_per_s", base_rate, "events/s", None, cmd.strip(),
           note="bare ASGI app: json.loads + SQLite insert per request, same requests")
    print(f"siyu: {siyu_rate:,.0f} events/s   baseline: {base_rate:,.0f} events/s   ratio {siyu_rate / base_rate:.2f}")


if __name__ == "__main__":
    main()
