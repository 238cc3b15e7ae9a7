"""One error type with a stable machine-readable code, and the one place that turns it into HTTP.

Every error answer has the shape ``{"error": {"code": ..., "message": ..., "details": ...}}``.
Domains subclass :class:`SiyuError` in their own ``errors.py``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("siyu.errors")


class SiyuError(Exception):
    code: str = "error"
    status: int = 400
    message: str = "Request failed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or type(self).message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class NotFound(SiyuError):
    code = "not_found"
    status = 404
    message = "Not found."


class Unauthorized(SiyuError):
    code = "unauthorized"
    status = 401
    message = "Missing or invalid credentials."


class Forbidden(SiyuError):
    code = "forbidden"
    status = 403
    message = "These credentials may not do this."


class Conflict(SiyuError):
    code = "conflict"
    status = 409
    message = "Conflicts with the current state."


class Unavailable(SiyuError):
    code = "unavailable"
    status = 503
    message = "A backing service is unavailable; retry later."


def error_response(err: SiyuError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SiyuError)
    async def _siyu(_: Request, exc: SiyuError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        err = SiyuError("The request is not valid.", code="validation_error", status=422, details=details)
        return error_response(err)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        err = SiyuError(str(exc.detail), code=code, status=exc.status_code)
        return error_response(err)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(SiyuError("Internal error.", code="internal", status=500))
