"""``/api/v1/analytics/...``: every analysis as JSON (operators, and server keys with ``analytics:read``)."""

from __future__ import annotations

from fastapi import APIRouter

from siyu.analytics.behaviour.router import router as behaviour
from siyu.analytics.value.router import router as value

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
router.include_router(behaviour)
router.include_router(value)
