"""Ingestion: authenticate, limit, validate, enrich, and publish durably to the bus.

The answer is 200 only after ``bus.publish`` returned, i.e. after the accepted events are durable.
Rejected items of a batch are reported by index and reason; the good ones are kept.
Deduplication by (source, messageId) happens where the events are stored (see ``siyu.worker``), which
every API process shares.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import math
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from siyu.bus.base import Bus, Message
from siyu.collect import enrich
from siyu.collect.errors import (
    AllRejected,
    InvalidBody,
    InvalidMessage,
    InvalidWriteKey,
    MissingWriteKey,
    PayloadTooLarge,
    RateLimited,
)
from siyu.collect.message import ItemError, build_record
from siyu.collect.ratelimit import RateLimiter
from siyu.collect.wire import (
    BatchEnvelope,
    KeyOnly,
    batch_decoder,
    incoming_decoder,
)
from siyu.config import Settings
from siyu.kit.ids import new_id
from siyu.metrics import EVENTS_ACCEPTED, EVENTS_REJECTED, REQUESTS_REFUSED
from siyu.sources.service import SourceAuth
from siyu.warehouse.record import Row, encode_rows

TOPIC = "events.collected"

KeyResolver = Callable[[str, tuple[str, ...]], Awaitable[SourceAuth | None]]


@dataclass
class Rejection:
    index: int
    code: str
    message: str


@dataclass
class IngestResult:
    accepted: int
    rejected: list[Rejection] = field(default_factory=list)
    source_id: str = ""

    def body(self) -> dict[str, Any]:
        return {
            "success": True,
            "accepted": self.accepted,
            "rejected": [{"index": r.index, "code": r.code, "message": r.message} for r in self.rejected],
        }


@dataclass(frozen=True)
class RequestInfo:
    body: bytes
    content_encoding: str | None
    authorization: str | None
    client_ip: str | None


class Collector:
    def __init__(
        self, settings: Settings, bus: Bus, resolve_key: KeyResolver, limiter: RateLimiter | None
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.resolve_key = resolve_key
        self.limiter = limiter
        self.tolerance_us = int(settings.clock_skew_tolerance_s * 1_000_000)

    # -- body ------------------------------------------------------------------------------------
    def _decompress(self, info: RequestInfo, limit: int) -> bytes:
        body = info.body
        encoding = (info.content_encoding or "").strip().lower()
        if encoding in ("gzip", "x-gzip") or (not encoding and body[:2] == b"\x1f\x8b"):
            try:
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out = d.decompress(body, limit + 1)
                if len(out) > limit or d.unconsumed_tail:
                    raise PayloadTooLarge(details={"limit_bytes": limit})
                if not d.eof:  # truncated: whatever JSON it holds may be cut short
                    raise zlib.error("incomplete gzip stream")
                return out
            except (zlib.error, gzip.BadGzipFile) as exc:
                raise InvalidBody("The body is not valid gzip.", code="invalid_gzip") from exc
        if encoding and encoding != "identity":
            raise InvalidBody(f"Unsupported Content-Encoding {encoding!r}.", code="unsupported_encoding",
                              status=415)
        if len(body) > limit:
            raise PayloadTooLarge(details={"limit_bytes": limit})
        return body

    # -- auth --------------------------------------------------------------------------------------
    async def _authenticate(self, authorization: str | None, body_key: str | None) -> SourceAuth:
        candidates: list[tuple[str, tuple[str, ...]]] = []
        if authorization:
            scheme, _, value = authorization.strip().partition(" ")
            value = value.strip()
            if scheme.lower() == "basic" and value:
                try:
                    user = base64.b64decode(value, validate=True).decode().partition(":")[0]
                except (binascii.Error, UnicodeDecodeError) as exc:
                    raise InvalidWriteKey("The Basic credentials are not valid base64.") from exc
                candidates.append((user, ("write_key",)))
            elif scheme.lower() == "bearer" and value:
                candidates.append((value, ("bearer", "write_key")))
        if body_key:
            candidates.append((body_key, ("write_key",)))
        if not candidates:
            raise MissingWriteKey()
        for key, kinds in candidates:
            if key:
                found = await self.resolve_key(key, kinds)
                if found is not None:
                    return found
        raise InvalidWriteKey()

    async def _limit(self, source: SourceAuth, cost: int) -> None:
        rate = source.rate_limit if source.rate_limit is not None else self.settings.rate_limit_events_per_s
        if not rate or self.limiter is None:
            return
        wait = await self.limiter.acquire(source.source_id, cost, rate, self.settings.rate_limit_burst_s)
        if wait > 0:
            REQUESTS_REFUSED.labels(code="rate_limited").inc()
            retry = max(1, math.ceil(wait))
            raise RateLimited(details={"retry_after_s": retry}, headers={"Retry-After": str(retry)})

    # -- entry points ------------------------------------------------------------------------------
    async def ingest_single(self, msg_type: str, info: RequestInfo) -> IngestResult:
        body = self._decompress(info, self.settings.max_message_bytes)
        try:
            msg = incoming_decoder.decode(body)
        except msgspec.ValidationError as exc:
            # Authenticate first where we can, so a wrong key is a 401 whatever the body.
            await self._authenticate(info.authorization, _body_key(body))
            EVENTS_REJECTED.labels(code="invalid_field").inc()
            raise InvalidMessage(str(exc), code="invalid_field") from exc
        except msgspec.DecodeError as exc:
            raise _not_json(exc, body) from exc
        except (UnicodeDecodeError, RecursionError) as exc:
            raise _undecodable(exc) from exc
        source = await self._authenticate(info.authorization, msg.writeKey)
        await self._limit(source, 1)
        try:
            record = build_record(
                msg, msg_type, source, batch_context=None, batch_sent_at=None, received_us=enrich.to_us_now(),
                client_ip=info.client_ip, tolerance_us=self.tolerance_us, utf8_checked=_is_utf8(body),
            )
        except ItemError as err:
            EVENTS_REJECTED.labels(code=err.code).inc()
            raise InvalidMessage(err.message, code=err.code) from err
        await self._publish(source, [record])
        return IngestResult(accepted=1, source_id=source.source_id)

    async def ingest_batch(self, info: RequestInfo) -> IngestResult:
        body = self._decompress(info, self.settings.max_batch_bytes)
        try:
            env = batch_decoder.decode(body)
        except msgspec.ValidationError as exc:
            await self._authenticate(info.authorization, _body_key(body))
            raise InvalidBody(f"Not a batch: {exc}", code="invalid_batch") from exc
        except msgspec.DecodeError as exc:
            raise _not_json(exc, body) from exc
        except (UnicodeDecodeError, RecursionError) as exc:
            raise _undecodable(exc) from exc
        source = await self._authenticate(info.authorization, env.writeKey)
        await self._limit(source, max(1, len(env.batch)))
        return await self.accept_items(source, env, info.client_ip, utf8_checked=_is_utf8(body))

    async def accept_items(
        self, source: SourceAuth, env: BatchEnvelope, client_ip: str | None, *, utf8_checked: bool = False
    ) -> IngestResult:
        """Validate and enrich every item of a batch; publish the good ones. Also the simulator's bulk path."""
        received_us = enrich.to_us_now()
        limit = self.settings.max_message_bytes
        records: list[Row] = []
        rejected: list[Rejection] = []
        decode = incoming_decoder.decode
        for index, raw in enumerate(env.batch):
            try:
                if len(raw) > limit:
                    raise ItemError("message_too_large", f"message is larger than {limit} bytes")
                try:
                    msg = decode(raw)
                except msgspec.ValidationError as exc:
                    raise ItemError("invalid_field", str(exc)) from exc
                except msgspec.DecodeError as exc:
                    err = _not_json(exc, bytes(raw), "message")
                    raise ItemError(err.code, err.message) from exc
                except (UnicodeDecodeError, RecursionError) as exc:
                    err = _undecodable(exc, "message")
                    raise ItemError(err.code, err.message) from exc
                records.append(build_record(
                    msg, msg.type, source, batch_context=env.context, batch_sent_at=env.sentAt,
                    received_us=received_us, client_ip=client_ip, tolerance_us=self.tolerance_us,
                    utf8_checked=utf8_checked,
                ))
            except ItemError as err:
                rejected.append(Rejection(index, err.code, err.message))
                EVENTS_REJECTED.labels(code=err.code).inc()
        if not records:
            if not env.batch:
                raise AllRejected("The batch is empty.", code="empty_batch")
            details = [{"index": r.index, "code": r.code, "message": r.message} for r in rejected]
            raise AllRejected(details=details)
        await self._publish(source, records)
        return IngestResult(accepted=len(records), rejected=rejected, source_id=source.source_id)

    async def _publish(self, source: SourceAuth, records: list[Row]) -> None:
        body = encode_rows(records)
        await self.bus.publish([Message(id=new_id(), topic=TOPIC, body=body, headers={"source_id": source.source_id})])
        EVENTS_ACCEPTED.labels(channel=source.channel).inc(len(records))


def _is_utf8(body: bytes) -> bool:
    """One check of the whole body (fast in C); when it fails, items are checked one by one."""
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


def _not_json(exc: msgspec.DecodeError, data: bytes, what: str = "body") -> InvalidBody:
    """A decode error; msgspec (0.19+) reports bad UTF-8 inside a string as one too, so tell those apart."""
    if not _is_utf8(data):
        return InvalidBody(f"The {what} is not valid UTF-8.", code="invalid_utf8", details={"reason": str(exc)})
    if what == "body":
        return InvalidBody(details={"reason": str(exc)})
    return InvalidBody(f"The {what} is not valid JSON: {exc}", code="invalid_json")


def _undecodable(exc: UnicodeDecodeError | RecursionError, what: str = "body") -> InvalidBody:
    """msgspec raises these outside its own error types: bad UTF-8 in a string, nesting too deep."""
    if isinstance(exc, UnicodeDecodeError):
        return InvalidBody(f"The {what} is not valid UTF-8.", code="invalid_utf8", details={"reason": str(exc)})
    return InvalidBody(f"The {what} is JSON nested too deeply.", details={"reason": str(exc)})


def _body_key(body: bytes) -> str | None:
    try:
        return msgspec.json.decode(body, type=KeyOnly).writeKey
    except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError):
        return None
