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
from siyu.collect.ratelimit import RateLimiter
from siyu.collect.wire import (
    TYPES,
    BatchEnvelope,
    Incoming,
    KeyOnly,
    any_decoder,
    batch_decoder,
    incoming_decoder,
    json_encoder,
)
from siyu.config import Settings
from siyu.kit.ids import new_id
from siyu.metrics import EVENTS_ACCEPTED, EVENTS_REJECTED, REQUESTS_REFUSED
from siyu.sources.service import SourceAuth
from siyu.warehouse.record import EventRecord, encode_records

TOPIC = "events.collected"
MAX_ID = 1024
MAX_MESSAGE_ID = 100
MAX_EVENT_NAME = 512

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


class ItemError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _id(v: str | int | None, field_name: str) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    if not s:
        return None
    if len(s) > MAX_ID:
        raise ItemError("invalid_field", f"{field_name} is longer than {MAX_ID} characters")
    return s


def _raw_object(raw: msgspec.Raw, field_name: str) -> str:
    """The raw JSON of an object field ("{}" when absent or null); anything else is an item error."""
    text = bytes(raw).decode()
    head = text[:1]
    if not text or head == "n":  # absent or null
        return "{}"
    if head != "{":
        raise ItemError("invalid_field", f"{field_name} must be an object")
    return text


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
            raise InvalidBody(details={"reason": str(exc)}) from exc
        source = await self._authenticate(info.authorization, msg.writeKey)
        await self._limit(source, 1)
        received_us = enrich.to_us_now()
        try:
            record = self._record(msg, msg_type, source, None, None, received_us, info.client_ip)
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
            raise InvalidBody(details={"reason": str(exc)}) from exc
        source = await self._authenticate(info.authorization, env.writeKey)
        await self._limit(source, max(1, len(env.batch)))
        return await self.accept_items(source, env, info.client_ip)

    async def accept_items(self, source: SourceAuth, env: BatchEnvelope, client_ip: str | None) -> IngestResult:
        """Validate and enrich every item of a batch; publish the good ones. Also the simulator's bulk path."""
        received_us = enrich.to_us_now()
        limit = self.settings.max_message_bytes
        records: list[EventRecord] = []
        rejected: list[Rejection] = []
        for index, raw in enumerate(env.batch):
            try:
                if len(raw) > limit:
                    raise ItemError("message_too_large", f"message is larger than {limit} bytes")
                try:
                    msg = incoming_decoder.decode(raw)
                except msgspec.ValidationError as exc:
                    raise ItemError("invalid_field", str(exc)) from exc
                except msgspec.DecodeError as exc:
                    raise ItemError("invalid_json", str(exc)) from exc
                records.append(self._record(msg, msg.type, source, env.context, env.sentAt, received_us,
                                            client_ip))
            except ItemError as err:
                rejected.append(Rejection(index, err.code, err.message))
                EVENTS_REJECTED.labels(code=err.code).inc()
        if not records:
            details = [{"index": r.index, "code": r.code, "message": r.message} for r in rejected]
            if not env.batch:
                raise AllRejected("The batch is empty.", code="empty_batch")
            raise AllRejected(details=details)
        await self._publish(source, records)
        return IngestResult(accepted=len(records), rejected=rejected, source_id=source.source_id)

    async def _publish(self, source: SourceAuth, records: list[EventRecord]) -> None:
        await self.bus.publish(
            [Message(id=new_id(), topic=TOPIC, body=encode_records(records), headers={"source_id": source.source_id})]
        )
        EVENTS_ACCEPTED.labels(channel=source.channel).inc(len(records))

    # -- one message -------------------------------------------------------------------------------
    def _record(
        self,
        msg: Incoming,
        msg_type: str | None,
        source: SourceAuth,
        batch_context: dict[str, Any] | None,
        batch_sent_at: str | None,
        received_us: int,
        client_ip: str | None,
    ) -> EventRecord:
        if msg_type not in TYPES:
            raise ItemError("invalid_type", f"type must be one of {', '.join(TYPES)}")
        user_id = _id(msg.userId, "userId")
        anonymous_id = _id(msg.anonymousId, "anonymousId")
        previous_id = _id(msg.previousId, "previousId")
        group_id = _id(msg.groupId, "groupId")
        if msg_type == "alias":
            if previous_id is None or user_id is None:
                raise ItemError("missing_previous_id", "alias needs previousId and userId")
        elif user_id is None and anonymous_id is None:
            raise ItemError("missing_id", "every message needs userId or anonymousId")
        message_id = msg.messageId
        if message_id is None or not message_id.strip():
            message_id = "srv-" + new_id()
        elif len(message_id) > MAX_MESSAGE_ID:
            raise ItemError("invalid_message_id", f"messageId is longer than {MAX_MESSAGE_ID} characters")
        event: str | None = None
        if msg_type == "track":
            if not msg.event or not msg.event.strip():
                raise ItemError("missing_event", "track needs a non-empty event name")
            event = msg.event.strip()
        elif msg_type in ("page", "screen"):
            event = (msg.name or "").strip() or None
        if event is not None and len(event) > MAX_EVENT_NAME:
            raise ItemError("invalid_field", f"event name is longer than {MAX_EVENT_NAME} characters")
        if msg_type == "group" and group_id is None:
            raise ItemError("missing_group_id", "group needs groupId")

        properties = _raw_object(msg.properties, "properties")
        traits = _raw_object(msg.traits, "traits")
        context: dict[str, Any] = {**batch_context, **msg.context} if batch_context and msg.context else (
            msg.context or batch_context or {}
        )
        try:
            ts_us, orig_us, sent_us = enrich.correct_timestamp(
                received_us=received_us,
                timestamp=msg.timestamp,
                original=msg.originalTimestamp,
                sent_at=msg.sentAt or batch_sent_at,
                trusted_clock=source.channel == "server",
                tolerance_us=self.tolerance_us,
            )
        except (ValueError, TypeError, OverflowError) as exc:
            raise ItemError("invalid_timestamp", f"a timestamp is not ISO-8601: {exc}") from exc

        props_obj = any_decoder.decode(properties) if msg_type == "page" and "page" not in context else None
        page_url, page_search, referrer = enrich.page_fields(context, props_obj)
        utm = enrich.utm_from(context, page_url, page_search)
        ip = context.get("ip")
        if ip is None and source.channel != "server" and client_ip:
            ip = client_ip
        return EventRecord(
            message_id=message_id,
            source_id=source.source_id,
            channel=source.channel,
            type=msg_type,
            event=event,
            anonymous_id=anonymous_id,
            user_id=user_id,
            group_id=group_id,
            previous_id=previous_id,
            timestamp_us=ts_us,
            original_timestamp_us=orig_us,
            sent_at_us=sent_us,
            received_at_us=received_us,
            properties=properties,
            traits=traits,
            context=json_encoder.encode(context).decode(),
            utm_source=utm[0],
            utm_medium=utm[1],
            utm_campaign=utm[2],
            utm_term=utm[3],
            utm_content=utm[4],
            scene=enrich.scene_from(context),
            page_url=page_url,
            referrer=referrer,
            ip=str(ip)[:64] if ip is not None else None,
        )


def _body_key(body: bytes) -> str | None:
    try:
        return msgspec.json.decode(body, type=KeyOnly).writeKey
    except msgspec.MsgspecError:
        return None
