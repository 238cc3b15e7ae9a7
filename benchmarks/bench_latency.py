"""ingest.track_p99_ms: p99 latency of single POST /v1/track calls at a steady 2,000 requests/s on the
embedded runtime (server with its worker running, every answer = durable on the bus), beside the same
load against the bare baseline app, measured in the same run. Latency counts from each request's
scheduled send time (open loop), so stalls are not hidden.

    python -m benchmarks.bench_latency [--rate 2000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import sys
from datetime import UTC, datetime

from benchmarks.common import BIN, Proc, create_source, event, record, siyu_env, workdir
from benchmarks.loadgen import build_request, open_loop

PORT = 8932


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def measure(key: str, rate: float, seconds: float, connections: int) -> tuple[float, float, dict[int, int]]:
    ts = datetime.now(UTC).isoformat()
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    bodies = [json.dumps(event(i, ts)).encode() for i in range(int(rate * (seconds + 2)) + 1)]

    def make(i: int) -> bytes:
        return build_request("/v1/track", bodies[i], headers)

    asyncio.run(open_loop("127.0.0.1", PORT, make, rate, 2, connections))  # warm-up
    lat, statuses = asyncio.run(open_loop("127.0.0.1", PORT, lambda i: make(i + int(rate * 2)), rate, seconds,
                                          connections))
    return percentile(lat, 99) * 1000, statistics.median(lat) * 1000, statuses


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rate", type=float, default=2000)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--worker", action=argparse.BooleanOptionalAction, default=True,
                   help="run the embedded worker in the server process (default) or not")
    args = p.parse_args()
    work = workdir()
    env = siyu_env(work / "siyu")
    key = create_source(env)
    server = Proc([str(BIN / "siyu"), "serve", "--port", str(PORT), *([] if args.worker else ["--no-worker"])], env, f"http://127.0.0.1:{PORT}",
                  work / "serve.log")
    try:
        server.wait_ready()
        p99, p50, statuses = measure(key, args.rate, args.seconds, args.connections)
    finally:
        server.stop()
    assert set(statuses) == {200}, statuses

    base = Proc([str(BIN / "uvicorn"), "benchmarks.baseline_app:app", "--port", str(PORT), "--loop", "uvloop",
                 "--http", "httptools", "--no-access-log", "--log-level", "warning"],
                {**env, "BASELINE_DB": str(work / "baseline.sqlite3")}, f"http://127.0.0.1:{PORT}",
                work / "baseline.log")
    try:
        base.wait_ready("/")
        b_p99, b_p50, b_statuses = measure(key, args.rate, args.seconds, args.connections)
    finally:
        base.stop()
    assert set(b_statuses) == {200}, b_statuses
    cmd = ("python -m benchmarks.bench_latency " + " ".join(sys.argv[1:])).strip()
    name = "ingest.track_p99_ms" if args.worker else "ingest.track_p99_ms_api_only"
    record(name, p99, "ms", b_p99, cmd, p50_ms=round(p50, 3), baseline_p50_ms=round(b_p50, 3),
           note=f"single track calls at {args.rate:.0f}/s for {args.seconds:.0f}s, embedded server "
                + ("with its worker" if args.worker else "without worker (serve --no-worker)"))
    print(f"siyu p99 {p99:.2f} ms (p50 {p50:.2f})   baseline p99 {b_p99:.2f} ms (p50 {b_p50:.2f})")


if __name__ == "__main__":
    main()
