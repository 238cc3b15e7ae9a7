"""The flash-sale attempt's fast path: an ASGI middleware that serves
``POST /api/v1/promotions/flash-sales/{id}/attempts`` for member tokens itself.

In a flash sale nearly every attempt is a refusal decided by one Redis script; FastAPI's routing (a
regular-expression match per route), dependencies and validation would cost several times that script.
The route in ``router.py`` stays: it describes the endpoint in the OpenAPI document and serves what this
path hands over (a body that does not validate, a missing or non-member token), so those answers are
exactly the platform API's.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from siyu.catalog.schemas import SaleChannel
from siyu.errors import SiyuError
from siyu.outbox.service import fingerprint
from siyu.promotions.flash.attempts import Idem

log = logging.getLogger("siyu.promotions.flash")
PREFIX = "/api/v1/promotions/flash-sales/"
SUFFIX = "/attempts"
CHANNELS = frozenset(c.value for c in SaleChannel)
_encode = msgspec.json.Encoder().encode


class _Attempt(msgspec.Struct, forbid_unknown_fields=True):
    channel: str
    quantity: int = 1


_decode = msgspec.json.Decoder(_Attempt).decode


class FlashFastPath:
    def __init__(self, app: Any, allow_origins: list[str]) -> None:
        self.app = app
        self.any_origin = "*" in allow_origins
        self.origins = {o.encode() for o in allow_origins}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "POST" or not path.startswith(PREFIX) \
                or not path.endswith(SUFFIX):
            await self.app(scope, receive, send)
            return
        session_id = path[len(PREFIX):-len(SUFFIX)]
        headers = dict(scope["headers"])
        raw = await _body(receive)
        body = _valid(raw)
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        token = token.strip()
        if body is None or scheme.lower() != "bearer" or token.count(".") != 2 or not session_id \
                or "/" in session_id or len(raw) > 4096:
            await self.app(scope, _replay(raw, receive), send)  # the platform API answers (422, 401, 403, 404)
            return
        status, answer = await self._answer(scope["app"].state.runtime, session_id, body, token,
                                            headers.get(b"idempotency-key"))
        out = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
        origin = headers.get(b"origin")
        if origin is not None and (self.any_origin or origin in self.origins):
            out.append((b"access-control-allow-origin", b"*" if self.any_origin else origin))
            if not self.any_origin:
                out.append((b"vary", b"Origin"))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": answer})

    @staticmethod
    async def _answer(runtime: Any, session_id: str, body: _Attempt, token: str, key: bytes | None
                      ) -> tuple[int, bytes]:
        try:
            person = await runtime.flash.person(token)
            idem = None
            if key is not None:
                if len(key) > 128:
                    raise SiyuError("Idempotency-Key is too long.", code="validation_error", status=422)
                idem = Idem(f"member:{person}:flash.attempt:{session_id}", key.decode("latin-1"),
                            fingerprint({"channel": body.channel, "quantity": body.quantity}))
            status, answer = await runtime.flash.attempt(session_id, person, body.channel, body.quantity, idem)
            return status, _encode(answer)
        except SiyuError as err:
            return err.status, _encode(err.body())
        except Exception:
            log.exception("unhandled error in a flash-sale attempt")
            return 500, _encode(SiyuError("Internal error.", code="internal", status=500).body())


def _valid(raw: bytes) -> _Attempt | None:
    """The body if it is what the route's schema (``AttemptIn``) accepts; None hands it to the route."""
    try:
        body = _decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if body.channel not in CHANNELS or not 1 <= body.quantity <= 1000 or isinstance(body.quantity, bool):
        return None
    return body


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False) or sum(map(len, chunks)) > 65536:
            break
    return b"".join(chunks)


def _replay(raw: bytes, receive: Any) -> Any:
    """``receive`` for the app: the body already read, then the connection's own messages."""
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return replay
