"""create_app(): routers, error handlers, middleware, and the runtime's lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from siyu import __version__
from siyu.analytics.router import router as analytics_router
from siyu.auth.router import router as tokens_router
from siyu.catalog.router import router as catalog_router
from siyu.collect import openapi as collect_openapi
from siyu.collect.fastpath import TrackingFastPath
from siyu.collect.router import router as collect_router
from siyu.config import Settings
from siyu.errors import install_error_handlers
from siyu.identity.router import router as identity_router
from siyu.loyalty.mall_router import router as mall_router
from siyu.loyalty.router import router as loyalty_router
from siyu.ops.router import router as ops_router
from siyu.orders.returns_router import router as returns_router
from siyu.orders.router import router as orders_router
from siyu.profiles.router import router as persons_router
from siyu.promotions.bargain.router import router as bargain_router
from siyu.promotions.flash.fastpath import FlashFastPath
from siyu.promotions.flash.router import router as flash_router
from siyu.promotions.groupbuy.router import router as group_buy_router
from siyu.promotions.links.router import public as links_public_router
from siyu.promotions.links.router import router as links_router
from siyu.promotions.referral.router import router as referral_router
from siyu.promotions.router import router as promotions_router
from siyu.runtime import Runtime
from siyu.sources.router import router as sources_router
from siyu.warehouse.base import Warehouse
from siyu.warehouse.router import router as query_router


def create_app(
    settings: Settings | None = None,
    *,
    run_worker: bool | None = None,
    with_warehouse: bool = True,
    warehouse: Warehouse | None = None,
) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime(settings, with_warehouse=with_warehouse, warehouse=warehouse)
    worker = settings.embedded_worker if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start(run_worker=worker)
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="Siyu",
        version=__version__,
        summary="One backend for a brand's mini-program, website and APP.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Content-Encoding", "Idempotency-Key"],
        expose_headers=["Retry-After"],
        max_age=86400,
    )
    # Flash-sale attempts by members are answered here, before CORS and routing (promotions/flash/fastpath.py).
    app.add_middleware(FlashFastPath, allow_origins=settings.cors_origins)
    # Outermost of our middleware: tracking POSTs are answered here, before CORS and routing.
    app.add_middleware(TrackingFastPath, allow_origins=settings.cors_origins)
    install_error_handlers(app)
    for router in (collect_router, sources_router, tokens_router, query_router, persons_router, identity_router,
                   catalog_router, orders_router, returns_router, loyalty_router, mall_router, promotions_router,
                   referral_router, links_router, links_public_router, flash_router,
                   group_buy_router, bargain_router,
                   analytics_router, ops_router):
        app.include_router(router)
    app.openapi_schema = None
    _add_security_schemes(app)
    return app


def _add_security_schemes(app: FastAPI) -> None:
    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {}).update(
            {
                "writeKeyBasic": {"type": "http", "scheme": "basic",
                                  "description": "Username = the source's write key, empty password."},
                "sourceBearer": {"type": "http", "scheme": "bearer",
                                 "description": "A source's bearer token (tracking) or an API token."},
                "apiToken": {"type": "http", "scheme": "bearer", "description": "Platform API token."},
            }
        )
        _document_errors(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


_PLATFORM_ERRORS = {
    "400": "Invalid request (see error.code)",
    "401": "Missing, unknown or revoked API token",
    "403": "The token may not do this",
}


def _resource_params(operation: dict[str, Any]) -> list[str]:
    """The parameters of an operation that name a resource (``person_id=...``): an unknown one is a 404."""
    return [p["name"] for p in operation.get("parameters", []) if str(p.get("name", "")).endswith("_id")]


def _document_errors(schema: dict[str, Any]) -> None:
    """Say what the platform API really answers: it needs an API token, and every error (422 included,
    which FastAPI would describe as ``{"detail": ...}``) has the ``{"error": {...}}`` shape."""
    err = {"application/json": {"schema": collect_openapi.ERROR}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {"description": "Validation error", "content": err}
            if not path.startswith("/api/v1/"):
                continue
            operation.setdefault("security", [{"apiToken": []}])
            extra = dict(_PLATFORM_ERRORS)
            writes = method in ("post", "put", "patch", "delete")
            names = _resource_params(operation)
            if "{" in path or writes or names:
                extra["404"] = "No such resource (or a resource the request names)"
            if writes:
                extra["409"] = "Conflicts with the current state (see error.code)"
                extra["422"] = "Validation error, or a rule of the domain (see error.code)"
            if path == "/api/v1/query":
                extra["408"] = "The query ran too long"
            extra["503"] = "A backing service (database, bus, event store) is unavailable"
            for code, description in extra.items():
                responses.setdefault(code, {"description": description, "content": err})
