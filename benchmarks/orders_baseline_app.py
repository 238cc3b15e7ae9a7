"""The bare baseline for orders.created_paid_per_s: a minimal ASGI app that does the same database work
as placing and paying an order, and nothing else (no auth, no validation, no pricing, no events):

- ``POST /orders``: reserve one unit (conditional UPDATE), insert the order and its line, commit, answer the id;
- ``POST /orders/{id}/pay``: mark it paid (conditional UPDATE), deduct the unit, commit.

SQLite (``BASELINE_DB`` a file) or PostgreSQL (``BASELINE_DB`` a postgresql:// URL, a few connections).
Run: uvicorn benchmarks.orders_baseline_app:app
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import uuid
from typing import Any

_url = os.environ.get("BASELINE_DB", "/tmp/siyu-orders-baseline.sqlite3")
_PG = _url.startswith("postgresql://")
_DDL = ["CREATE TABLE IF NOT EXISTS stock (sku TEXT PRIMARY KEY, on_hand BIGINT, reserved BIGINT)",
        "CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, person TEXT, status TEXT, total BIGINT)",
        "CREATE TABLE IF NOT EXISTS lines (id TEXT PRIMARY KEY, order_id TEXT, sku TEXT, qty INT, price BIGINT)"]
_pool: asyncio.Queue[Any] = asyncio.Queue()


def _setup() -> None:
    if _PG:
        import psycopg

        conns = [psycopg.connect(_url, autocommit=False) for _ in range(8)]
        with conns[0].cursor() as cur:
            for stmt in _DDL:
                cur.execute(stmt)
            cur.execute("INSERT INTO stock VALUES ('S', 1000000000, 0) ON CONFLICT DO NOTHING")
        conns[0].commit()
        for c in conns:
            _pool.put_nowait(c)
        return
    conn = sqlite3.connect(_url, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for stmt in _DDL:
        conn.execute(stmt)
    conn.execute("INSERT OR IGNORE INTO stock VALUES ('S', 1000000000, 0)")
    _pool.put_nowait(conn)


def _run(conn: Any, statements: list[tuple[str, tuple[Any, ...]]]) -> int:
    if not _PG:
        conn.execute("BEGIN")
    cur = conn.cursor()
    changed = 1
    for sql, params in statements:
        cur.execute(sql.replace("?", "%s") if _PG else sql, params)
        changed = min(changed, cur.rowcount)
    conn.commit() if _PG else conn.execute("COMMIT")
    return changed


async def _send(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                _setup()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    more = True
    while more:
        msg = await receive()
        body += msg.get("body", b"")
        more = msg.get("more_body", False)
    path = scope["path"]
    if scope["method"] != "POST":
        await _send(send, 200, b"{}")
        return
    conn = await _pool.get()
    try:
        if path == "/orders":
            data = json.loads(body or b"{}")
            oid = uuid.uuid4().hex
            ok = await asyncio.to_thread(_run, conn, [
                ("UPDATE stock SET reserved = reserved + 1 WHERE sku = 'S' AND on_hand - reserved >= 1", ()),
                ("INSERT INTO orders VALUES (?, ?, 'pending', 19900)", (oid, str(data.get("person", "")))),
                ("INSERT INTO lines VALUES (?, ?, 'S', 1, 19900)", (uuid.uuid4().hex, oid))])
            await _send(send, 201 if ok else 409, json.dumps({"id": oid}).encode())
        else:
            oid = path.split("/")[2]
            ok = await asyncio.to_thread(_run, conn, [
                ("UPDATE orders SET status = 'paid' WHERE id = ? AND status = 'pending'", (oid,)),
                ("UPDATE stock SET on_hand = on_hand - 1, reserved = reserved - 1 WHERE sku = 'S'", ())])
            await _send(send, 201 if ok else 409, b"{}")
    finally:
        _pool.put_nowait(conn)
