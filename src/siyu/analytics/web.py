"""What the analytics routers share: the caller's permission and the runtime's event store."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from siyu.analytics.engine import Analytics
from siyu.auth.schemas import Scope
from siyu.auth.service import Principal
from siyu.deps import RuntimeDep, scope
from siyu.warehouse.base import WarehouseUnavailable

AnalyticsReader = Annotated[Principal, Depends(scope(Scope.analytics_read))]


async def analytics(runtime: RuntimeDep, _: AnalyticsReader) -> Analytics:
    if runtime.warehouse is None:
        raise WarehouseUnavailable()
    s = runtime.settings
    return Analytics.of(runtime.warehouse, s.analytics_tz_offset_minutes, s.query_timeout_s)


AnalyticsDep = Annotated[Analytics, Depends(analytics)]
