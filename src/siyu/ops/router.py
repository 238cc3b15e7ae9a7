from __future__ import annotations

import asyncio
from typing import Any

import anyio.to_thread
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from siyu.deps import RuntimeDep
from siyu.metrics import BUS_DEPTH, WORKER_METRICS
from siyu.warehouse.remote import RemoteWarehouse

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A dependency is not ready"}})
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Ready to take traffic: the database, the bus and the event store answer."""
    checks: dict[str, Any] = {}

    def _db() -> None:
        with runtime.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    async def check(name: str, coro: Any) -> None:
        try:
            await asyncio.wait_for(coro, timeout=5)
            checks[name] = {"ok": True}
        except Exception as exc:
            checks[name] = {"ok": False, "error": repr(exc)[:300]}

    await check("database", anyio.to_thread.run_sync(_db))
    await check("bus", runtime.bus.ping())
    if runtime.warehouse is not None:
        await check("warehouse", anyio.to_thread.run_sync(runtime.warehouse.ping))
    ready = all(c["ok"] for c in checks.values())
    return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                        status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus metrics."""
    try:
        for group, depth in (await asyncio.wait_for(runtime.bus.depth(), timeout=5)).items():
            BUS_DEPTH.labels(group=group).set(depth)
    except Exception:
        pass
    body = generate_latest()
    if isinstance(runtime.warehouse, RemoteWarehouse):
        # The worker runs in the process that owns the store: its counters come from there.
        try:
            remote = await asyncio.wait_for(anyio.to_thread.run_sync(runtime.warehouse.metrics), timeout=5)
        except Exception:
            remote = b""
        body = _without(body, WORKER_METRICS) + _only(remote, WORKER_METRICS)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _family(line: bytes) -> bytes:
    name = line.split(b" ", 3)[2] if line.startswith(b"# ") else line.split(b"{", 1)[0].split(b" ", 1)[0]
    for suffix in (b"_total", b"_created"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _without(text: bytes, families: frozenset[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in text.splitlines() if line and _family(line) not in families)


def _only(text: bytes, families: frozenset[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in text.splitlines() if line and _family(line) in families)
