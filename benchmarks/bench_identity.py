"""identity.events_per_s: one identity worker (embedded bus -> resolution -> SQLite identity graph, then
the user id / anonymous id links into DuckDB) with a million identifiers already in the graph, beside a
bare baseline measured in the same run: the same events' identifiers upserted (INSERT OR IGNORE) into a
plain SQLite table that holds the same million identifiers, straight from memory, 50,000 events per
transaction: no bus, no decoding, no normalisation, no resolution, no channels or traits, no links.

The graph is seeded directly (``benchmarks/identity_graph.py``: about 320,000 persons, anonymous browsers
and members with several identifiers each); the traffic is sessions of 3 to 8 events, interleaved: mostly
known browsers and members coming back, some new anonymous browsers, some sign-ups and some log-ins that
merge an anonymous person into a member.

    python -m benchmarks.bench_identity [--identifiers 1000000] [--events 500000] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import random
import shutil
import sqlite3
import sys
import time
from typing import Any

import msgspec
from sqlalchemy import func, select

from benchmarks.common import record, workdir
from benchmarks.identity_graph import MP_APPID, Graph, Traffic, seed, traffic
from siyu.bus.base import Message
from siyu.bus.sqlite import SqliteBus
from siyu.collect.message import build_record
from siyu.collect.wire import incoming_decoder
from siyu.config import Settings
from siyu.db import Database
from siyu.identity import resolver
from siyu.identity.models import Identifier, IdentityMerge, Person
from siyu.kit.ids import new_id
from siyu.migrate import upgrade
from siyu.sources.service import SourceAuth
from siyu.warehouse.duckdb import DuckDBWarehouse
from siyu.warehouse.record import encode_rows
from siyu.worker import identity as identity_worker
from siyu.worker.identity import GROUP, PATTERNS, IdentityWorker

PER_MESSAGE = 100  # events per bus message, as a client's /v1/batch call


def bus_messages(t: Traffic) -> list[Message]:
    """100-event messages per channel, as the simulator's bulk path (and a busy server's batches) make them:
    each browser's events stay in order; events of different channels interleave by message."""
    now = time.time_ns() // 1000
    sources = {ch: SourceAuth(f"bench-{ch}", ch, None) for ch in ("miniprogram", "web", "app")}
    out: list[Message] = []
    pending: dict[str, list[tuple[object, ...]]] = {ch: [] for ch in sources}
    for m, ch in zip(t.messages, t.channel_of, strict=True):
        inc = incoming_decoder.decode(msgspec.json.encode(m))
        batch = pending[ch]
        batch.append(build_record(inc, m["type"], sources[ch], batch_context=None, batch_sent_at=None,
                                  received_us=now, client_ip="127.0.0.1", tolerance_us=10**12, utf8_checked=False))
        if len(batch) >= PER_MESSAGE:
            out.append(Message(id=new_id(), topic=PATTERNS[0], body=encode_rows(batch)))
            pending[ch] = []
    out += [Message(id=new_id(), topic=PATTERNS[0], body=encode_rows(b)) for b in pending.values() if b]
    return out


def event_keys(m: dict[str, Any]) -> list[tuple[str, str]]:
    """The identifiers a message carries, as-is (the baseline does no normalisation)."""
    keys = []
    if m.get("userId"):
        keys.append(("user_id", m["userId"]))
    if m.get("anonymousId"):
        keys.append(("anonymous_id", m["anonymousId"]))
    ctx = m.get("context") or {}
    for e in ctx.get("externalIds") or ():
        keys.append(("wechat_openid", f"{MP_APPID}:{e['id']}"))
    if "id" in (ctx.get("device") or {}):
        keys.append(("device_id", ctx["device"]["id"]))
    phone = (m.get("traits") or {}).get("phone")
    if phone:
        keys.append(("phone", phone))
    return keys


class Baseline:
    """A plain SQLite table (kind, value) -> person holding the same identifiers as the graph."""

    def __init__(self, path: str, graph_keys: list[tuple[str, str]], t: Traffic) -> None:
        self.con = sqlite3.connect(path, isolation_level=None)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=NORMAL")
        self.con.execute("CREATE TABLE ids (kind TEXT NOT NULL, value TEXT NOT NULL, person TEXT NOT NULL, "
                         "PRIMARY KEY (kind, value)) WITHOUT ROWID")
        self.con.execute("BEGIN")
        self.con.executemany("INSERT OR IGNORE INTO ids VALUES (?, ?, ?)", ((k, v, "seed") for k, v in graph_keys))
        self.con.execute("COMMIT")
        self.rows = [[(k, v, m["messageId"]) for k, v in event_keys(m)] for m in t.messages]

    def run(self, per_tx: int) -> float:
        """Events per second: each event's identifiers INSERT OR IGNORE, ``per_tx`` events per transaction."""
        started = time.perf_counter()
        for i in range(0, len(self.rows), per_tx):
            self.con.execute("BEGIN")
            self.con.executemany("INSERT OR IGNORE INTO ids VALUES (?, ?, ?)",
                                 [r for ev in self.rows[i:i + per_tx] for r in ev])
            self.con.execute("COMMIT")
        elapsed = time.perf_counter() - started
        self.con.close()
        return len(self.rows) / elapsed


def time_phases(worker: IdentityWorker) -> dict[str, float]:
    """CPU seconds of the batch thread in each step of the worker's batches (instrumented by wrapping them)."""
    spent: dict[str, float] = {}

    def timed(name: str, owner: Any, attr: str) -> None:
        inner = getattr(owner, attr)

        def wrapper(*a: Any, **k: Any) -> Any:
            t0, w0 = time.thread_time(), time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                spent[name] = spent.get(name, 0.0) + time.thread_time() - t0
                if not name.startswith(" "):
                    spent[name + " (wall)"] = spent.get(name + " (wall)", 0.0) + time.perf_counter() - w0

        setattr(owner, attr, wrapper)

    process = worker._process

    def cpu_timed(*a: Any) -> Any:  # CPU seconds of the batch thread: steadier than wall time on a busy host
        t0 = time.thread_time()
        try:
            return process(*a)
        finally:
            spent["cpu"] = spent.get("cpu", 0.0) + time.thread_time() - t0

    worker._process = cpu_timed  # type: ignore[method-assign]
    timed("decode+extract", worker, "observations")
    timed("resolve+commit", worker, "resolve")
    timed("link sync", worker, "sync_links")
    timed("  in the transaction", identity_worker, "resolve")
    timed("  load identifiers", resolver.Batch, "load")
    timed("  prefetch persons", resolver.Batch, "prefetch")
    timed("  apply", resolver.Batch, "apply")
    timed("  write (finish)", resolver.Batch, "finish")
    timed("    persons, identifiers, merges", resolver.Batch, "flush")
    timed("    channels", resolver.repo, "upsert_channel_spans")
    timed("    traits", resolver.repo, "upsert_traits")
    return spent


class GcTimer:
    def __init__(self) -> None:
        self.total = 0.0
        self.by_generation: dict[int, list[float]] = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}
        self._t0 = 0.0
        gc.callbacks.append(self.callback)

    def callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            took = time.perf_counter() - self._t0
            self.total += took
            self.by_generation[info["generation"]][0] += 1
            self.by_generation[info["generation"]][1] += took


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--identifiers", type=int, default=1_000_000)
    p.add_argument("--events", type=int, default=500_000)
    p.add_argument("--batch", type=int, default=50_000, help="SIYU_WORKER_BATCH_EVENTS")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--profile", help="write a cProfile of the worker run to this file")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--dry-run", action="store_true", help="print, do not record")
    args = p.parse_args()
    rng = random.Random(args.seed)
    work = workdir()
    try:
        url = f"sqlite:///{work / 'siyu.sqlite3'}"
        upgrade(url)
        db = Database(url)
        warehouse = DuckDBWarehouse(work / "events.duckdb")
        warehouse.migrate()

        started = time.perf_counter()
        graph: Graph = seed(db, warehouse, args.identifiers, rng,
                            progress=lambda n: print(f"\rseeding: {n:,} identifiers", end="", file=sys.stderr))
        print(f"\rseeded {graph.identifiers:,} identifiers on {len(graph.anonymous) + len(graph.members):,} "
              f"persons in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        t = traffic(graph, args.events, rng)
        msgs = bus_messages(t)
        bus = SqliteBus(work / "bus.sqlite3")
        bus.declare_group_sync(GROUP, PATTERNS)
        for i in range(0, len(msgs), 500):
            bus.publish_sync(msgs[i:i + 500])
        bus.close_sync()
        print(f"{args.events:,} events in {len(msgs):,} bus messages; sessions: {t.sessions}", file=sys.stderr)

        base_run = Baseline(str(work / "baseline.sqlite3"), graph.keys, t)
        settings = Settings(data_dir=work, worker_batch_events=args.batch)
        worker = IdentityWorker(settings, SqliteBus(work / "bus.sqlite3"), db, warehouse)
        with db.session() as s:
            persons_before = s.scalar(select(func.count()).select_from(Person))

        async def until_resolved() -> float:
            stop = asyncio.Event()
            t0 = time.perf_counter()
            task = asyncio.create_task(worker.run(stop))
            while worker.resolved < args.events and not task.done():  # noqa: ASYNC110 - polling a counter
                await asyncio.sleep(0.005)
            await worker._synced()  # and the last batch's links copied into the event store
            elapsed = time.perf_counter() - t0
            stop.set()
            await task
            return elapsed

        # The harness's own data (the seeded keys, the generated messages) would not be in a worker process:
        # keep it out of the garbage collector's way, as `siyu serve` does with its start-up heap.
        gc.collect()
        gc.freeze()
        prof = cProfile.Profile() if args.profile else None
        if prof is not None:  # the batches run in a thread (asyncio.to_thread): profile them there
            process = worker._process

            def profiled(deliveries: Any) -> Any:
                prof.enable()
                try:
                    return process(deliveries)
                finally:
                    prof.disable()

            worker._process = profiled  # type: ignore[method-assign]
        phases = time_phases(worker)
        gc_time = GcTimer()
        cpu0 = time.process_time()
        elapsed = asyncio.run(until_resolved())
        process_cpu = time.process_time() - cpu0
        gc.callbacks.remove(gc_time.callback)
        if os.environ.get("BENCH_GC_DEBUG"):
            import collections
            objs = gc.get_objects()
            print("tracked objects after the run:", len(objs),
                  collections.Counter(type(o).__name__ for o in objs).most_common(12), file=sys.stderr)
        if prof is not None:
            prof.dump_stats(args.profile)
        rate = args.events / elapsed
        cpu = phases.pop("cpu", 0.0)
        per = 1e6 / args.events
        print(f"CPU: {process_cpu * per:.1f} us/event in the process, {cpu * per:.1f} in the batch thread; "
              f"wall {elapsed * per:.1f}", file=sys.stderr)
        steps = {k: round(v * per, 1) for k, v in phases.items()}
        steps["garbage collection (all threads, wall)"] = round(gc_time.total * per, 1)
        print(f"batch thread CPU (and wall) by step (us/event): {steps}", file=sys.stderr)
        print("garbage collections by generation (count, seconds): "
              f"{ {g: (int(n), round(t, 2)) for g, (n, t) in gc_time.by_generation.items()} }", file=sys.stderr)

        with db.session() as s:
            merges = s.scalar(select(func.count()).select_from(IdentityMerge)) or 0
            persons_after = s.scalar(select(func.count()).select_from(Person)) or 0
            total_ids = s.scalar(select(func.count()).select_from(Identifier))
        links_store = warehouse.query("SELECT count(*) FROM identity_links", 1, 60).rows[0][0]
        assert worker.resolved == args.events, worker.resolved
        if merges != len(t.merged):
            with db.session() as s:
                for anon, uid in t.merged:
                    a = s.scalar(select(Identifier.person_id).where(Identifier.kind == "anonymous_id",
                                                                     Identifier.value == anon))
                    u = s.scalar(select(Identifier.person_id).where(Identifier.kind == "user_id",
                                                                     Identifier.value == uid))
                    if a != u:
                        print("not merged:", anon, a, uid, u)
        assert merges == len(t.merged), (merges, len(t.merged))
        warehouse.close()
        db.dispose()
        assert links_store == total_ids, (links_store, total_ids)  # every identifier's link is copied

        base = base_run.run(args.batch)
        cmd = ("python -m benchmarks.bench_identity " + " ".join(a for a in sys.argv[1:] if a != "--keep")).strip()
        if not args.profile and not args.dry_run:
            record("identity.events_per_s", rate, "events/s", base, cmd,
                   note=f"one identity worker, {graph.identifiers:,} identifiers seeded; {args.events:,} events "
                        f"({t.sessions['known']} returning, {t.sessions['new_browser']} new-browser, "
                        f"{t.sessions['sign_up']} sign-up, {t.sessions['log_in']} merging log-in sessions); "
                        "baseline: the same events' identifiers INSERT OR IGNORE into a plain SQLite table "
                        "holding the same identifiers, from memory",
                   merges=merges, persons_created=persons_after - (persons_before or 0))
        print(f"graph after: {total_ids:,} identifiers, {persons_after:,} persons "
              f"(+{persons_after - (persons_before or 0):,}), {merges:,} merges, {links_store:,} links in the store")
        print(f"identity worker: {rate:,.0f} events/s   baseline (plain SQLite upsert): {base:,.0f} events/s")
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
