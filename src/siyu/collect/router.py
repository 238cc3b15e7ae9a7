"""The tracking API: ``/v1/{track,identify,page,screen,group,alias,batch}``, the browser's short paths
``/v1/{t,i,p,s,g,a}`` and ``/v1/b``. Bodies are read raw (JSON under any content type, ``text/plain``
included, optionally gzip) and parsed by the collect service."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import msgspec
from fastapi import APIRouter, Request
from fastapi.responses import Response

from siyu.collect import openapi
from siyu.collect.errors import PayloadTooLarge
from siyu.collect.service import IngestResult, RequestInfo
from siyu.collect.wire import SHORT_PATHS, TYPES
from siyu.metrics import REQUEST_SECONDS
from siyu.runtime import Runtime

router = APIRouter(tags=["tracking"])
_encode = msgspec.json.Encoder().encode


async def read_capped(request: Request, limit: int) -> bytes:
    """The body, refusing (413) as soon as it is larger than ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(details={"limit_bytes": limit})
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(details={"limit_bytes": limit})
        chunks.append(chunk)
    return b"".join(chunks)


async def _info(request: Request, limit: int) -> RequestInfo:
    return RequestInfo(
        body=await read_capped(request, limit),
        content_encoding=request.headers.get("content-encoding"),
        authorization=request.headers.get("authorization"),
        client_ip=request.client.host if request.client else None,
    )


def _ok(result: IngestResult) -> Response:
    return Response(_encode(result.body()), media_type="application/json")


def _single(msg_type: str) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        started = time.perf_counter()
        runtime: Runtime = request.app.state.runtime
        info = await _info(request, runtime.settings.max_message_bytes)
        result = await runtime.collector.ingest_single(msg_type, info)
        REQUEST_SECONDS.labels(endpoint=msg_type).observe(time.perf_counter() - started)
        return _ok(result)

    handler.__name__ = f"tracking_{msg_type}"
    handler.__doc__ = f"Send one `{msg_type}` message."
    return handler


async def _batch(request: Request) -> Response:
    started = time.perf_counter()
    runtime: Runtime = request.app.state.runtime
    info = await _info(request, runtime.settings.max_batch_bytes)
    result = await runtime.collector.ingest_batch(info)
    REQUEST_SECONDS.labels(endpoint="batch").observe(time.perf_counter() - started)
    return _ok(result)


for _t in TYPES:
    router.add_api_route(f"/v1/{_t}", _single(_t), methods=["POST"], openapi_extra=openapi.extra(openapi.MESSAGE),
                         summary=f"{_t} (one message)", response_class=Response)
for _short, _t in SHORT_PATHS.items():
    router.add_api_route(f"/v1/{_short}", _single(_t), methods=["POST"],
                         openapi_extra=openapi.extra(openapi.MESSAGE), summary=f"{_t} (browser short path)",
                         response_class=Response, name=f"tracking_short_{_short}")
router.add_api_route("/v1/batch", _batch, methods=["POST"], openapi_extra=openapi.extra(openapi.BATCH),
                     summary="A batch of messages", response_class=Response, name="tracking_batch")
router.add_api_route("/v1/b", _batch, methods=["POST"], openapi_extra=openapi.extra(openapi.BATCH),
                     summary="A batch of messages (browser short path)", response_class=Response,
                     name="tracking_batch_short")
