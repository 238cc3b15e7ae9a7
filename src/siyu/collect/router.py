"""The tracking API: ``/v1/{track,identify,page,screen,group,alias,batch}``, the browser's short paths
``/v1/{t,i,p,s,g,a}`` and ``/v1/b``. Bodies are read raw (JSON under any content type, ``text/plain``
included, optionally gzip) and parsed by the collect service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from siyu.collect import openapi
from siyu.collect.fastpath import answer
from siyu.collect.wire import SHORT_PATHS, TYPES

router = APIRouter(tags=["tracking"])


def _endpoint(kind: str) -> Callable[[Request], Awaitable[Response]]:
    """The documented route. ``TrackingFastPath`` answers these POSTs before routing; a request that
    reaches the route anyway is served by the same code."""

    async def handler(request: Request) -> Response:
        client = request.client.host if request.client else None
        status, body, extra = await answer(request.app.state.runtime, kind, dict(request.scope["headers"]), client,
                                           request.receive)
        return Response(body, status_code=status, media_type="application/json",
                        headers={k.decode(): v.decode() for k, v in extra})

    handler.__name__ = f"tracking_{kind}"
    handler.__doc__ = "Send a batch of messages." if kind == "batch" else f"Send one `{kind}` message."
    return handler


for _t in TYPES:
    router.add_api_route(f"/v1/{_t}", _endpoint(_t), methods=["POST"], openapi_extra=openapi.extra(openapi.MESSAGE),
                         summary=f"{_t} (one message)", response_class=Response)
for _short, _t in SHORT_PATHS.items():
    router.add_api_route(f"/v1/{_short}", _endpoint(_t), methods=["POST"],
                         openapi_extra=openapi.extra(openapi.MESSAGE), summary=f"{_t} (browser short path)",
                         response_class=Response, name=f"tracking_short_{_short}")
router.add_api_route("/v1/batch", _endpoint("batch"), methods=["POST"], openapi_extra=openapi.extra(openapi.BATCH),
                     summary="A batch of messages", response_class=Response, name="tracking_batch")
router.add_api_route("/v1/b", _endpoint("batch"), methods=["POST"], openapi_extra=openapi.extra(openapi.BATCH),
                     summary="A batch of messages (browser short path)", response_class=Response,
                     name="tracking_batch_short")
