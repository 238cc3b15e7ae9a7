"""The bare baseline for the person lookup benchmark: a minimal ASGI app that answers
GET /api/v1/persons/by-identifier/{kind}/{value} with one SQLite primary-key lookup (the identifiers
table's unique (kind, value) index) in the same database, and the person id as JSON. No auth, no
normalisation, no profile. Run: BASELINE_DB=... uvicorn benchmarks.lookup_baseline_app:app"""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Any
from urllib.parse import unquote

_conn = sqlite3.connect(os.environ.get("BASELINE_DB", "/tmp/siyu-lookup.sqlite3"), check_same_thread=False)
_PREFIX = "/api/v1/persons/by-identifier/"


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path: str = scope["path"]
    if not path.startswith(_PREFIX):
        await _answer(send, 200, b"{}")
        return
    kind, _, value = path[len(_PREFIX):].partition("/")
    row = _conn.execute("SELECT person_id FROM identifiers WHERE kind = ? AND value = ?",
                        (kind, unquote(value))).fetchone()
    if row is None:
        await _answer(send, 404, b'{"error":"not found"}')
    else:
        await _answer(send, 200, json.dumps({"id": row[0]}).encode())
