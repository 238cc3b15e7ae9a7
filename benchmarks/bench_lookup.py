"""identity.lookup_p99_ms: p99 latency of GET /api/v1/persons/by-identifier/{kind}/{value} (the whole
profile: identifiers, channels, traits, counters, merged persons) through a live `siyu serve` on the
embedded runtime (with its worker) at a steady 500 requests/s, open loop (latency counts from each
request's scheduled send time), called by a brand server's key with persons:read; beside the bare baseline
app (``benchmarks/lookup_baseline_app.py``: one SQLite lookup of the same identifier in the same database
per request, no auth) at the same load, in the same run.

The graph is the identity benchmark's (``benchmarks/identity_graph.py``: a million identifiers on about
320,000 persons, with channels and traits), seeded before the server starts, its links already in the
event store; lookups pick identifiers of every kind at random.

    python -m benchmarks.bench_lookup [--identifiers 1000000] [--rate 500] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import subprocess
import sys
import time
from urllib.parse import quote

from benchmarks.common import BIN, Proc, record, siyu_env, workdir
from benchmarks.identity_graph import seed
from benchmarks.loadgen import open_loop
from siyu.config import Settings
from siyu.db import Database
from siyu.migrate import upgrade
from siyu.warehouse.factory import make_warehouse

PORT = 8937


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def get_request(path: str, headers: dict[str, str], host: str = "127.0.0.1") -> bytes:
    head = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode()


def server_key(env: dict[str, str]) -> str:
    out = subprocess.run([str(BIN / "siyu"), "tokens", "create", "--role", "server", "--scope", "persons:read",
                          "--name", "bench", "--json"], env=env, capture_output=True, text=True, check=True)
    return str(json.loads(out.stdout)["token"])


def measure(requests: list[bytes], rate: float, seconds: float, connections: int,
            warmup: float = 3.0) -> tuple[float, float, dict[int, int]]:
    n_warm = int(rate * warmup)
    asyncio.run(open_loop("127.0.0.1", PORT, lambda i: requests[i % len(requests)], rate, warmup, connections))
    lat, statuses = asyncio.run(open_loop("127.0.0.1", PORT, lambda i: requests[(i + n_warm) % len(requests)], rate,
                                          seconds, connections))
    return percentile(lat, 99) * 1000, statistics.median(lat) * 1000, statuses


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--identifiers", type=int, default=1_000_000)
    p.add_argument("--rate", type=float, default=500)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--dry-run", action="store_true", help="print, do not record")
    args = p.parse_args()
    rng = random.Random(args.seed)
    work = workdir()
    try:
        data_dir = work / "siyu"
        env = siyu_env(data_dir)
        settings = Settings(data_dir=data_dir)
        settings.ensure_data_dir()
        url = settings.resolved_database_url()
        upgrade(url)
        db = Database(url)
        warehouse = make_warehouse(settings)
        warehouse.migrate()
        started = time.perf_counter()
        graph = seed(db, warehouse, args.identifiers, rng)
        warehouse.close()
        db.dispose()
        print(f"seeded {graph.identifiers:,} identifiers on {len(graph.anonymous) + len(graph.members):,} persons "
              f"in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        key = server_key(env)
        headers = {"Authorization": f"Bearer {key}"}
        total = int(args.rate * (args.seconds + 3)) + 1
        picks = [graph.keys[rng.randrange(len(graph.keys))] for _ in range(total)]
        requests = [get_request(f"/api/v1/persons/by-identifier/{k}/{quote(v, safe='')}", headers) for k, v in picks]
        kinds = {k: sum(1 for x, _ in picks if x == k) for k in sorted({k for k, _ in picks})}

        server = Proc([str(BIN / "siyu"), "serve", "--port", str(PORT)], env, f"http://127.0.0.1:{PORT}",
                      work / "serve.log")
        try:
            server.wait_ready(timeout=120)
            time.sleep(2)  # the worker's first idle pass
            p99, p50, statuses = measure(requests, args.rate, args.seconds, args.connections)
        finally:
            server.stop()
        assert set(statuses) == {200}, statuses

        base = Proc([str(BIN / "uvicorn"), "benchmarks.lookup_baseline_app:app", "--port", str(PORT), "--loop",
                     "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"],
                    {**env, "BASELINE_DB": str(data_dir / "siyu.sqlite3")}, f"http://127.0.0.1:{PORT}",
                    work / "baseline.log")
        try:
            base.wait_ready("/")
            b_p99, b_p50, b_statuses = measure(requests, args.rate, args.seconds, args.connections)
        finally:
            base.stop()
        assert set(b_statuses) == {200}, b_statuses

        cmd = ("python -m benchmarks.bench_lookup " + " ".join(a for a in sys.argv[1:] if a not in
                                                               ("--keep", "--dry-run"))).strip()
        if not args.dry_run:
            record("identity.lookup_p99_ms", p99, "ms", b_p99, cmd, p50_ms=round(p50, 3),
                   baseline_p50_ms=round(b_p50, 3), lookups_by_kind=kinds,
                   note=f"GET /api/v1/persons/by-identifier at {args.rate:.0f}/s for {args.seconds:.0f}s, server key "
                        f"with persons:read, `siyu serve` (embedded, with its worker) on a graph of "
                        f"{graph.identifiers:,} identifiers; baseline: bare ASGI app, one SQLite lookup per request")
        print(f"lookups by kind: {kinds}")
        print(f"siyu p99 {p99:.2f} ms (p50 {p50:.2f})   baseline p99 {b_p99:.2f} ms (p50 {b_p50:.2f})")
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
