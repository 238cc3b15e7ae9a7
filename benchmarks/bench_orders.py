"""orders.created_paid_per_s_sqlite / _postgres: orders placed and paid per second through the API (a
member token places a one-line order in a channel: pricing from the listing, tier and coupons checked,
stock reserved, the order and its domain event written; then the brand's server confirms a manual payment:
stock deducted, coupons redeemed, the event written), 16 customers at once, beside the bare baseline app
(``benchmarks/orders_baseline_app.py``: the same reserve / insert / pay statements and nothing else) in the
same run on the same database kind. The server runs its worker (outbox relay, consumers) as it always does.

    python -m benchmarks.bench_orders [--orders 3000] [--concurrency 16] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

from benchmarks.bench_loyalty import drop_pg, fresh_pg
from benchmarks.common import BIN, Proc, create_token, record, siyu_env, workdir

PORT = 8935
URL = f"http://127.0.0.1:{PORT}"
ADDRESS = {"name": "林", "phone": "13800138000", "line": "文三路 1 号"}


async def place_and_pay(n: int, concurrency: int, order: tuple[str, dict[str, Any]], pay: Callable[[str], str],
                        customers: list[dict[str, str]], server: dict[str, str]) -> float:
    """Orders placed and paid per second over ``concurrency`` keep-alive connections."""
    left = [n]

    async def customer(client: httpx.AsyncClient, i: int) -> None:
        while left[0] > 0:
            left[0] -= 1
            r = await client.post(order[0], json=order[1], headers=customers[i % len(customers)])
            if r.status_code != 201:
                raise RuntimeError(r.text)
            p = await client.post(pay(r.json()["id"]), json={"provider": "manual"}, headers=server)
            if p.status_code != 201:
                raise RuntimeError(p.text)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=URL, limits=limits, timeout=60) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(customer(client, i) for i in range(concurrency)))
        return n / (time.perf_counter() - t0)


def siyu_rate(env: dict[str, str], n: int, concurrency: int) -> float:
    token = create_token(env)
    server = Proc([str(BIN / "siyu"), "serve", "--port", str(PORT)], env, URL, workdir() / "serve.log")
    admin = {"Authorization": f"Bearer {token}"}
    try:
        server.wait_ready()
        wh = httpx.post(URL + "/api/v1/catalog/locations", headers=admin,
                        json={"code": "WH", "name": "仓", "kind": "warehouse"}).json()["id"]
        listing = {ch: {"price_fen": 19900} for ch in ("miniprogram", "web", "app")}
        sku = httpx.post(URL + "/api/v1/catalog/products", headers=admin, json={
            "title": "围巾", "skus": [{"code": "S", "listings": listing}]}).json()["skus"][0]["id"]
        httpx.put(f"{URL}/api/v1/catalog/stock/{sku}/{wh}", headers=admin, json={"on_hand": 10_000_000})
        customers = []
        for i in range(50):
            r = httpx.post(URL + "/api/v1/identity/login", headers=admin, json={"phone": f"1390000{i:04d}"})
            customers.append({"Authorization": f"Bearer {r.json()['member_token']}"})
        order = ("/api/v1/orders", {"channel": "app", "lines": [{"sku_id": sku, "quantity": 1}], "address": ADDRESS})

        def pay(oid: str) -> str:
            return f"/api/v1/orders/{oid}/payments"

        asyncio.run(place_and_pay(200, concurrency, order, pay, customers, admin))  # warm-up
        return asyncio.run(place_and_pay(n, concurrency, order, pay, customers, admin))
    finally:
        server.stop()


def baseline_rate(env: dict[str, str], db: str, n: int, concurrency: int) -> float:
    base = Proc([str(BIN / "uvicorn"), "benchmarks.orders_baseline_app:app", "--port", str(PORT), "--loop",
                 "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"],
                {**env, "BASELINE_DB": db}, URL, workdir() / "baseline.log")
    try:
        base.wait_ready("/")
        who = [{"X-Customer": str(i)} for i in range(50)]
        order: tuple[str, dict[str, Any]] = ("/orders", {"person": "p"})

        def pay(oid: str) -> str:
            return f"/orders/{oid}/pay"

        asyncio.run(place_and_pay(200, concurrency, order, pay, who, {}))
        return asyncio.run(place_and_pay(n, concurrency, order, pay, who, {}))
    finally:
        base.stop()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--orders", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--postgres", default=os.environ.get("SIYU_TEST_POSTGRES_URL",
                                                        "postgresql://postgres@127.0.0.1:5432/test"))
    p.add_argument("--only", choices=["sqlite", "postgres"])
    p.add_argument("--no-record", action="store_true", help="print the figures without recording them")
    args = p.parse_args()
    cmd = "python -m benchmarks.bench_orders " + " ".join(sys.argv[1:])
    if args.only in (None, "sqlite"):
        work = workdir()
        ours = siyu_rate(siyu_env(work / "siyu"), args.orders, args.concurrency)
        bare = baseline_rate(siyu_env(work / "siyu"), str(work / "baseline.sqlite3"), args.orders, args.concurrency)
        print(f"SQLite: {ours:,.0f} orders placed and paid/s (bare baseline: {bare:,.0f}/s)")
        if not args.no_record:
                record("orders.created_paid_per_s_sqlite", ours, "orders/s", bare, cmd.strip(),
                   note=f"embedded runtime, {args.concurrency} customers at once, one-line orders + manual payment")
    if args.only in (None, "postgres"):
        db, bare_db = fresh_pg(args.postgres), fresh_pg(args.postgres)
        try:
            env = siyu_env(workdir() / "siyu", SIYU_DATABASE_URL=db)
            ours = siyu_rate(env, args.orders, args.concurrency)
            bare = baseline_rate(env, bare_db, args.orders, args.concurrency)
        finally:
            drop_pg(args.postgres, db)
            drop_pg(args.postgres, bare_db)
        print(f"PostgreSQL: {ours:,.0f} orders placed and paid/s (bare baseline: {bare:,.0f}/s)")
        if not args.no_record:
            record("orders.created_paid_per_s_postgres", ours, "orders/s", bare, cmd.strip(),
                   note=f"PostgreSQL, embedded bus and event store, {args.concurrency} customers at once")


if __name__ == "__main__":
    main()
