from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter

from siyu.deps import AdminDep, RuntimeDep
from siyu.warehouse.base import QueryFailed, WarehouseUnavailable
from siyu.warehouse.schemas import QueryRequest, QueryResponse

router = APIRouter(prefix="/api/v1", tags=["query"])


@router.post("/query", response_model=QueryResponse)
async def run_query(body: QueryRequest, runtime: RuntimeDep, _: AdminDep) -> QueryResponse:
    """Run one read-only SQL statement against the event store (table ``events``)."""
    warehouse = runtime.warehouse
    if warehouse is None:
        raise WarehouseUnavailable()
    max_rows = min(body.max_rows or runtime.settings.query_max_rows, 1_000_000)
    try:
        result = await anyio.to_thread.run_sync(
            warehouse.query, body.sql, max_rows, runtime.settings.query_timeout_s
        )
    except OverflowError as exc:  # e.g. SELECT 'infinity'::timestamp: no Python datetime holds it
        raise QueryFailed("A value in the result cannot be turned into JSON; cast it to text.",
                          details={"reason": str(exc)}) from exc
    return QueryResponse(columns=result.columns, rows=result.rows, truncated=result.truncated)
