"""The tracking endpoints' fast path: an ASGI middleware that serves ``POST /v1/...`` itself.

Tracking calls take a raw body and need none of FastAPI's routing, validation or dependency machinery,
which costs more per request than the whole collection of a single event. The FastAPI routes in
``collect/router.py`` stay: they describe these endpoints in the OpenAPI document and serve any request
this path does not take (there are none in practice; CORS preflights go through the normal stack).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec

from siyu.collect.errors import PayloadTooLarge
from siyu.collect.service import RequestInfo
from siyu.collect.wire import SHORT_PATHS, TYPES
from siyu.errors import SiyuError
from siyu.metrics import REQUEST_SECONDS

log = logging.getLogger("siyu.collect")
_encode = msgspec.json.Encoder().encode

ROUTES: dict[str, str] = {f"/v1/{t}": t for t in TYPES}
ROUTES.update({f"/v1/{short}": t for short, t in SHORT_PATHS.items()})
ROUTES["/v1/batch"] = ROUTES["/v1/b"] = "batch"

Scope = dict[str, Any]


class TrackingFastPath:
    def __init__(self, app: Any, allow_origins: list[str]) -> None:
        self.app = app
        self.any_origin = "*" in allow_origins
        self.origins = {o.encode() for o in allow_origins}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = ROUTES.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if kind is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        status, body, extra = await answer(
            scope["app"].state.runtime, kind, headers, scope["client"][0] if scope.get("client") else None, receive
        )
        response_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *extra]
        origin = headers.get(b"origin")
        if origin is not None and (self.any_origin or origin in self.origins):
            response_headers.append((b"access-control-allow-origin", b"*" if self.any_origin else origin))
            response_headers.append((b"access-control-expose-headers", b"Retry-After"))
            if not self.any_origin:
                response_headers.append((b"vary", b"Origin"))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})


_SECONDS = {kind: REQUEST_SECONDS.labels(endpoint=kind) for kind in (*TYPES, "batch")}


async def answer(
    runtime: Any, kind: str, headers: dict[bytes, bytes], client_ip: str | None, receive: Any
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """Serve one tracking call (``kind``: a message type, or "batch"): (status, JSON body, extra headers)."""
    started = time.perf_counter()
    status, body, extra = 200, b"", []
    try:
        settings = runtime.settings
        limit = settings.max_batch_bytes if kind == "batch" else settings.max_message_bytes
        info = RequestInfo(
            body=await _read(receive, headers, limit),
            content_encoding=_text(headers.get(b"content-encoding")),
            authorization=_text(headers.get(b"authorization")),
            client_ip=client_ip,
        )
        if kind == "batch":
            result = await runtime.collector.ingest_batch(info)
        else:
            result = await runtime.collector.ingest_single(kind, info)
        body = _encode(result.body())
    except SiyuError as err:
        status, body = err.status, _encode(err.body())
        extra = [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
    except Exception:
        log.exception("unhandled error in the tracking API")
        status, body = 500, _encode(SiyuError("Internal error.", code="internal", status=500).body())
    _SECONDS[kind].observe(time.perf_counter() - started)
    return status, body, extra


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


async def _read(receive: Any, headers: dict[bytes, bytes], limit: int) -> bytes:
    """The body, refusing (413) as soon as it is larger than ``limit`` bytes."""
    declared = headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(details={"limit_bytes": limit})
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(details={"limit_bytes": limit})
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
