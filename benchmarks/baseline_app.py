"""The bare baseline for the ingest benchmarks: a minimal ASGI app that only parses the JSON body and
inserts each message into SQLite (WAL, synchronous=NORMAL, one transaction per request). No auth, no
validation, no enrichment, no bus. Run: uvicorn benchmarks.baseline_app:app"""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Any

_path = os.environ.get("BASELINE_DB", "/tmp/siyu-baseline.sqlite3")
_conn = sqlite3.connect(_path, isolation_level=None, check_same_thread=False)
_conn.execute("PRAGMA journal_mode=WAL")
_conn.execute("PRAGMA synchronous=NORMAL")
_conn.execute("CREATE TABLE IF NOT EXISTS events (message_id TEXT, body TEXT)")
_OK = b'{"success":true}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
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
    if scope["method"] != "POST":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    data = json.loads(body)
    items = data.get("batch", [data])
    _conn.execute("BEGIN")
    _conn.executemany("INSERT INTO events VALUES (?, ?)", [(m.get("messageId"), json.dumps(m)) for m in items])
    _conn.execute("COMMIT")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(_OK)).encode())]})
    await send({"type": "http.response.body", "body": _OK})
