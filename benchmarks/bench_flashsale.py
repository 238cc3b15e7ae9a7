"""flashsale.attempts_per_s_embedded / flashsale.attempts_per_s_redis: flash-sale attempts per second
through ``POST /api/v1/promotions/flash-sales/{id}/attempts`` with member tokens, on the embedded runtime
(SQLite: the database store) and the server runtime (PostgreSQL + RabbitMQ + Redis: the Redis store),
``siyu serve --no-worker`` (the API process alone). ``--members`` customers make ``--attempts`` attempts in
all (each the same number) at a session of ``--quota`` units with one unit per customer, over
``--concurrency`` keep-alive connections. A run counts only if the results are right: exactly ``quota``
attempts answered 201, every other one 409, and the session's stats say ``reserved == quota``,
``remaining == 0`` and balanced.

Baseline, same run, same requests and load generator: a bare ASGI app (no auth, no per-customer limit, no
reservation record) doing the textbook check-and-decrement: embedded, one SQLite ``UPDATE ... SET left =
left - 1 WHERE left > 0`` per request (WAL, one transaction each, plus an INSERT for a winner); Redis, one
Lua check-and-decrement through redis-py's asyncio client.

    python -m benchmarks.bench_flashsale [--runtime both|embedded|redis] [--attempts 40000] [--members 2000]
        [--quota 1000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import uuid
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import BIN, Proc, create_token, record, siyu_env, workdir
from benchmarks.loadgen import build_request, closed_loop

PORT = 8934
URL = f"http://127.0.0.1:{PORT}"
F = "/api/v1/promotions/flash-sales"
PG = os.environ.get("SIYU_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
AMQP = os.environ.get("SIYU_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS = os.environ.get("SIYU_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


# -- the baseline app -------------------------------------------------------------------------------------------
_DECR = ("local n = tonumber(redis.call('GET', KEYS[1]) or '0') "
         "if n > 0 then return redis.call('DECR', KEYS[1]) end return -1")
_state: dict[str, Any] = {}


async def baseline_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """BASELINE_MODE=sqlite (BASELINE_DB) or redis (BASELINE_REDIS, BASELINE_KEY)."""
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body, more = b"", True
    while more:
        msg = await receive()
        body += msg.get("body", b"")
        more = msg.get("more_body", False)
    won = False
    if scope["method"] == "POST":
        person = json.loads(body).get("person", "")
        if os.environ.get("BASELINE_MODE") == "redis":
            if "script" not in _state:
                import redis.asyncio as aredis

                _state["redis"] = aredis.Redis.from_url(os.environ["BASELINE_REDIS"])
                _state["script"] = _state["redis"].register_script(_DECR)
            won = int(await _state["script"](keys=[os.environ["BASELINE_KEY"]])) >= 0
        else:
            if "db" not in _state:
                _state["db"] = sqlite3.connect(os.environ["BASELINE_DB"], isolation_level=None,
                                               check_same_thread=False)
            db = _state["db"]
            db.execute("BEGIN IMMEDIATE")
            won = db.execute("UPDATE stock SET left = left - 1 WHERE id = 1 AND left > 0").rowcount == 1
            if won:
                db.execute("INSERT INTO winners VALUES (?)", (person,))
            db.execute("COMMIT")
    answer = b'{"ok":true}' if won else b'{"error":{"code":"flash_sold_out"}}'
    await send({"type": "http.response.start", "status": 201 if won else 409,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})


# -- setup --------------------------------------------------------------------------------------------------------
def call(method: str, path: str, token: str, body: Any = None) -> Any:
    r = httpx.request(method, URL + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert r.status_code < 400, r.text
    return r.json()


async def _logins(admin: str, n: int) -> list[tuple[str, str]]:
    sem = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=URL, timeout=60, headers={"Authorization": f"Bearer {admin}"}) as c:
        async def one(i: int) -> tuple[str, str]:
            async with sem:
                r = (await c.post("/api/v1/identity/login", json={"phone": f"1370{i:07d}"})).json()
                return r["person_id"], r["member_token"]
        return list(await asyncio.gather(*(one(i) for i in range(n))))


def shop(admin: str) -> str:
    wh = call("POST", "/api/v1/catalog/locations", admin, {"code": "WH", "name": "仓", "kind": "warehouse"})["id"]
    listings = {ch: {"price_fen": 19900} for ch in ("miniprogram", "web", "app")}
    sku = call("POST", "/api/v1/catalog/products", admin,
               {"title": "秒杀款", "skus": [{"code": "FLASH", "listings": listings}]})["skus"][0]["id"]
    call("PUT", f"/api/v1/catalog/stock/{sku}/{wh}", admin, {"on_hand": 100_000})
    return str(sku)


def flash_sale(admin: str, sku: str, quota: int) -> str:
    now = datetime.now(UTC)
    return str(call("POST", F, admin, {"name": "bench", "sku_id": sku, "price_fen": 100, "quota": quota,
                                      "per_member_limit": 1, "reservation_ttl_s": 600,
                                      "starts_at": (now - timedelta(seconds=1)).isoformat(),
                                      "ends_at": (now + timedelta(hours=1)).isoformat()})["id"])


def attempts(session_id: str, tokens: list[str], n: int, person: bool = False) -> list[bytes]:
    out = []
    for i in range(n):
        body = {"person": str(i % len(tokens))} if person else {"channel": "app"}
        out.append(build_request(f"{F}/{session_id}/attempts", json.dumps(body).encode(),
                                 {"Authorization": f"Bearer {tokens[i % len(tokens)]}",
                                  "Content-Type": "application/json"}))
    return out


def measure_siyu(env: dict[str, str], work: Path, args: argparse.Namespace) -> tuple[float, dict[str, Any]]:
    admin = create_token(env)
    server = Proc([str(BIN / "siyu"), "serve", "--port", str(PORT), "--no-worker"], env, URL, work / "serve.log")
    try:
        server.wait_ready()
        sku = shop(admin)
        members = asyncio.run(_logins(admin, args.members))
        tokens = [t for _, t in members]
        warm = flash_sale(admin, sku, 10)  # fills the server's token and session caches
        asyncio.run(closed_loop("127.0.0.1", PORT, attempts(warm, tokens, len(tokens)), args.concurrency))
        fs = flash_sale(admin, sku, args.quota)
        elapsed, statuses = asyncio.run(closed_loop("127.0.0.1", PORT, attempts(fs, tokens, args.attempts),
                                                    args.concurrency))
        stats = call("GET", f"{F}/{fs}/stats", admin)
    finally:
        server.stop()
    assert statuses == {201: args.quota, 409: args.attempts - args.quota}, statuses
    assert (stats["reserved"], stats["remaining"], stats["balanced"]) == (args.quota, 0, True), stats
    return args.attempts / elapsed, {"statuses": {str(k): v for k, v in statuses.items()}, "stats": stats}


def measure_baseline(env: dict[str, str], work: Path, args: argparse.Namespace, mode: str) -> float:
    benv = {**env, "BASELINE_MODE": mode, "BASELINE_DB": str(work / "baseline.sqlite3"), "BASELINE_REDIS": REDIS,
            "BASELINE_KEY": f"siyu:bench:flash:{uuid.uuid4().hex}"}
    if mode == "sqlite":
        db = sqlite3.connect(benv["BASELINE_DB"])
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript("CREATE TABLE stock (id INTEGER PRIMARY KEY, left INTEGER); CREATE TABLE winners (p TEXT);"
                         f"INSERT INTO stock VALUES (1, {args.quota});")
        db.close()
    else:
        import redis

        r = redis.Redis.from_url(REDIS)
        r.set(benv["BASELINE_KEY"], args.quota, ex=3600)
        r.close()
    base = Proc([str(BIN / "uvicorn"), "benchmarks.bench_flashsale:baseline_app", "--port", str(PORT), "--loop",
                 "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"], benv, URL,
                work / f"baseline-{mode}.log")
    tokens = [f"t{i}" for i in range(args.members)]
    try:
        base.wait_ready("/")
        elapsed, statuses = asyncio.run(closed_loop("127.0.0.1", PORT, attempts("x", tokens, args.attempts, True),
                                                    args.concurrency))
    finally:
        base.stop()
    assert statuses == {201: args.quota, 409: args.attempts - args.quota}, statuses
    return args.attempts / elapsed


# -- the runtimes -------------------------------------------------------------------------------------------------
def server_env(work: Path) -> tuple[dict[str, str], str, str]:
    import psycopg

    name = f"siyu_bench_flash_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG.rsplit("/", 1)[0] + "/" + name
    namespace = f"siyu-bench-{uuid.uuid4().hex[:8]}"
    return siyu_env(work / "siyu", SIYU_DATABASE_URL=url, SIYU_BUS_URL=AMQP, SIYU_BUS_NAMESPACE=namespace,
                    SIYU_REDIS_URL=REDIS), name, namespace


def drop_server(name: str, namespace: str) -> None:
    import aio_pika
    import psycopg

    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def rabbit() -> None:
        conn = await aio_pika.connect(AMQP)
        ch = await conn.channel()
        for q in ("warehouse", "identity", "profiles", "loyalty", "loyalty-actions", "promotions-flash", "dead"):
            with suppress(Exception):
                await ch.queue_delete(f"{namespace}.{q}")
                ch = await conn.channel()
        for ex in (namespace, f"{namespace}.dead"):
            with suppress(Exception):
                await ch.exchange_delete(ex)
                ch = await conn.channel()
        await conn.close()

    asyncio.run(rabbit())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runtime", choices=["both", "embedded", "redis"], default="both")
    p.add_argument("--attempts", type=int, default=40_000)
    p.add_argument("--members", type=int, default=2_000)
    p.add_argument("--quota", type=int, default=1_000)
    p.add_argument("--concurrency", type=int, default=64)
    args = p.parse_args()
    cmd = ("python -m benchmarks.bench_flashsale " + " ".join(sys.argv[1:])).strip()
    shape = {"attempts": args.attempts, "members": args.members, "quota": args.quota,
             "concurrency": args.concurrency}
    for runtime in (["embedded", "redis"] if args.runtime == "both" else [args.runtime]):
        work = workdir()
        if runtime == "embedded":
            env, cleanup = siyu_env(work / "siyu"), None
        else:
            env, name, namespace = server_env(work)
            cleanup = (name, namespace)
        try:
            rate, seen = measure_siyu(env, work, args)
        finally:
            if cleanup is not None:
                drop_server(*cleanup)
        base = measure_baseline(env, work, args, "sqlite" if runtime == "embedded" else "redis")
        note = ("embedded runtime (SQLite, database store), siyu serve --no-worker; baseline: bare ASGI app, one "
                "SQLite conditional UPDATE per request" if runtime == "embedded" else
                "server runtime (PostgreSQL + RabbitMQ + Redis store), siyu serve --no-worker; baseline: bare ASGI "
                "app, one Redis check-and-decrement script per request (redis-py asyncio)")
        record(f"flashsale.attempts_per_s_{runtime}", rate, "attempts/s", base, cmd, note=note, correct=True,
               **shape, **seen)
        print(f"{runtime}: siyu {rate:,.0f} attempts/s   baseline {base:,.0f}/s   ratio {rate / base:.2f}")


if __name__ == "__main__":
    main()
