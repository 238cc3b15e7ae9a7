"""Writing domain events (outbox), recording handled messages (inbox) and idempotency keys.

Domain events travel as JSON: ``{"id", "topic", "occurred_at", "person_id", "data", "track"}``. ``track``,
when present, is how the event appears in the event store: a ``track`` event with a Segment e-commerce
name (``Order Completed``, ``Order Refunded``, ...), the channel it happened in, the person's event
identifier (``user_id`` or ``anonymous_id``) and properties. The relay publishes the domain event on its
topic and the ``track`` form on the events topic, where the warehouse worker stores it like any tracked
event (deduplicated by its message id, which is the outbox id).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.db import upsert
from siyu.errors import SiyuError
from siyu.kit.clock import iso, utcnow
from siyu.kit.ids import new_id
from siyu.outbox.models import IdempotencyRecord, InboxMessage, OutboxMessage


@dataclass(frozen=True)
class Track:
    """The event-store form of a domain event."""

    event: str
    channel: str
    user_id: str | None
    anonymous_id: str | None
    properties: dict[str, Any]
    # Touch columns of the event store (attribution): set for events that are themselves a touch, such as
    # an opened channel link. Written into the payload only when given.
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    scene: str | None = None
    page_url: str | None = None
    referrer: str | None = None


TOUCH_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "scene", "page_url",
                "referrer")


def emit(session: Session, topic: str, data: dict[str, Any], *, person_id: str | None = None,
         track: Track | None = None, at: datetime | None = None) -> str:
    """Write a domain event in the caller's transaction; it is published only if the transaction commits."""
    when = at or utcnow()
    body = payload(topic, data, person_id=person_id, track=track, at=when)
    session.add(OutboxMessage(id=body["id"], topic=topic, payload=body, created_at=when, published=False))
    return str(body["id"])


def emit_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Bulk form of :func:`emit` for imports: ``rows`` are ready payloads (see :func:`payload`)."""
    if rows:
        session.execute(upsert(session, OutboxMessage), [
            {"id": r["id"], "topic": r["topic"], "payload": r, "created_at": utcnow(), "published": False}
            for r in rows])


def payload(topic: str, data: dict[str, Any], *, person_id: str | None, track: Track | None,
            at: datetime) -> dict[str, Any]:
    out: dict[str, Any] = {"id": new_id(), "topic": topic, "occurred_at": iso(at), "person_id": person_id,
                           "data": data}
    if track is not None:
        out["track"] = {"event": track.event, "channel": track.channel, "user_id": track.user_id,
                        "anonymous_id": track.anonymous_id, "properties": track.properties}
        for name in TOUCH_FIELDS:
            if (value := getattr(track, name)) is not None:
                out["track"][name] = value
    return out


def first_delivery(session: Session, consumer: str, message_id: str) -> bool:
    """Record that ``consumer`` handled ``message_id`` (in the caller's transaction); False if it already
    had. Concurrent deliveries of one message: the second insert waits for the first transaction and then
    finds the row, so exactly one of them applies the effect."""
    stmt = (upsert(session, InboxMessage).values(consumer=consumer, message_id=message_id, processed_at=utcnow())
            .on_conflict_do_nothing().returning(InboxMessage.message_id))
    return session.execute(stmt).first() is not None


def first_deliveries(session: Session, consumer: str, message_ids: Sequence[str]) -> set[str]:
    """:func:`first_delivery` for a batch in one statement: the ids ``consumer`` had not handled before."""
    if not message_ids:
        return set()
    now = utcnow()
    stmt = (upsert(session, InboxMessage)
            .values([{"consumer": consumer, "message_id": m, "processed_at": now} for m in dict.fromkeys(message_ids)])
            .on_conflict_do_nothing().returning(InboxMessage.message_id))
    return set(session.scalars(stmt))


class IdempotencyKeyReused(SiyuError):
    code = "idempotency_key_reused"
    status = 422
    message = "This Idempotency-Key was used with a different request body."


_json = msgspec.json.Encoder()


def fingerprint(body: Any) -> str:
    return hashlib.sha256(_json.encode(body)).hexdigest()


@dataclass(frozen=True)
class Replay:
    status: int
    body: Any


def claim_key(session: Session, scope: str, key: str, print_: str) -> Replay | None:
    """Start an idempotent request: None means "go ahead" (the key is now held by this transaction and
    :func:`store_answer` must be called before commit); a :class:`Replay` is the answer of the request that
    used the key before. A concurrent request with the same key waits for the first to commit."""
    stmt = (upsert(session, IdempotencyRecord).values(scope=scope, key=key, fingerprint=print_, status=None,
                                                       response=None, created_at=utcnow())
            .on_conflict_do_nothing().returning(IdempotencyRecord.key))
    if session.execute(stmt).first() is not None:
        return None
    row = session.execute(select(IdempotencyRecord.fingerprint, IdempotencyRecord.status,
                                 IdempotencyRecord.response)
                          .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)).one()
    if row[0] != print_:
        raise IdempotencyKeyReused(details={"key": key})
    return Replay(status=int(row[1] or 200), body=row[2])


def store_answer(session: Session, scope: str, key: str, status: int, body: Any) -> None:
    rec = session.get(IdempotencyRecord, (scope, key))
    assert rec is not None
    rec.status = status
    rec.response = body
