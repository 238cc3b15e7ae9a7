"""The outbox relay: committed domain events -> the bus.

Each cycle, in one transaction: take the relay lock (PostgreSQL: a transaction-level advisory lock, so one
relay of several worker processes works at a time and events leave in commit order; SQLite: the single
worker process), read the oldest unpublished rows, publish them (durable on return), mark them published.
A crash after publishing and before the mark publishes them again: every consumer is idempotent by message
id, and the event store deduplicates by (source, message id). Nothing committed is left unpublished: the
rows stay until a publish succeeds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import msgspec
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from siyu.bus.base import Bus, Message
from siyu.collect.service import TOPIC as EVENTS_TOPIC
from siyu.db import Database, affected
from siyu.kit.clock import parse_iso, utcnow
from siyu.kit.ids import new_id
from siyu.metrics import OUTBOX_PUBLISHED
from siyu.outbox.models import OutboxMessage
from siyu.warehouse.record import EventRecord, encode_records

log = logging.getLogger("siyu.outbox")

SOURCE_ID = "siyu"  # the source id of events Siyu itself emits (orders, loyalty, ...)
EVENT_ID = "event-id"  # header: the domain event's own id, whatever bus message carries it
_LOCK = 0x5159_5501
_json = msgspec.json.Encoder()
_EMPTY = b"{}"
_CONTEXT = b'{"library":{"name":"siyu"}}'
KEEP_PUBLISHED = timedelta(days=7)


def _us(value: str) -> int:
    return int(parse_iso(value.removesuffix("Z")).timestamp() * 1_000_000)


def track_record(payload: dict[str, Any], received_us: int) -> EventRecord | None:
    t = payload.get("track")
    if not t:
        return None
    ts = _us(payload["occurred_at"])
    return EventRecord(
        message_id=payload["id"], source_id=SOURCE_ID, channel=t["channel"], type="track", event=t["event"],
        anonymous_id=t.get("anonymous_id"), user_id=t.get("user_id"), group_id=None, previous_id=None,
        timestamp_us=ts, original_timestamp_us=ts, sent_at_us=None, received_at_us=received_us,
        properties=_json.encode(t.get("properties") or {}), traits=_EMPTY, context=_CONTEXT,
        utm_source=t.get("utm_source"), utm_medium=t.get("utm_medium"), utm_campaign=t.get("utm_campaign"),
        utm_term=t.get("utm_term"), utm_content=t.get("utm_content"), scene=t.get("scene"),
        page_url=t.get("page_url"), referrer=t.get("referrer"), ip=None, person_id=payload.get("person_id"),
    )


def messages_for(payloads: Sequence[dict[str, Any]]) -> list[Message]:
    """The bus messages of a batch of domain events: each on its own topic, and their event-store form
    together in one message on the events topic."""
    out = [Message(id=p["id"], topic=p["topic"], body=_json.encode(p), headers={EVENT_ID: p["id"]})
           for p in payloads]
    now_us = int(utcnow().timestamp() * 1_000_000)
    records = [r for r in (track_record(p, now_us) for p in payloads) if r is not None]
    if records:
        out.append(Message(id=new_id(), topic=EVENTS_TOPIC, body=encode_records(records)))
    return out


class OutboxRelay:
    def __init__(self, db: Database, bus: Bus, batch: int = 2000, idle_s: float = 0.1) -> None:
        self.db = db
        self.bus = bus
        self.batch = batch
        self.idle_s = idle_s
        self.published = 0
        self._last_prune = 0.0
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Called after a commit that wrote to the outbox (same process): publish without waiting."""
        self._wake.set()

    def _locked(self, session: Session) -> bool:
        if session.get_bind().dialect.name != "postgresql":
            return True
        return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK}))

    def _cycle(self, loop: asyncio.AbstractEventLoop) -> int:
        with self.db.session() as session:
            if not self._locked(session):
                return 0
            rows = session.execute(
                select(OutboxMessage.seq, OutboxMessage.payload)
                .where(OutboxMessage.published.is_(False)).order_by(OutboxMessage.seq).limit(self.batch)
            ).all()
            if not rows:
                return 0
            future = asyncio.run_coroutine_threadsafe(self.bus.publish(messages_for([r[1] for r in rows])), loop)
            future.result(timeout=120)
            seqs = [r[0] for r in rows]
            session.execute(update(OutboxMessage).where(OutboxMessage.seq.in_(seqs))
                            .values(published=True, published_at=utcnow()))
        OUTBOX_PUBLISHED.inc(len(rows))
        return len(rows)

    def _prune(self) -> int:
        cutoff = utcnow() - KEEP_PUBLISHED
        with self.db.session() as session:
            result = session.execute(delete(OutboxMessage).where(OutboxMessage.published.is_(True),
                                                                 OutboxMessage.published_at < cutoff))
        return affected(result)

    async def run_once(self) -> int:
        n = await asyncio.to_thread(self._cycle, asyncio.get_running_loop())
        self.published += n
        return n

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                n = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay cycle failed; retrying")
                n = 0
                await asyncio.sleep(1.0)
            if n < self.batch:
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, timeout=self.idle_s, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                if time.monotonic() - self._last_prune > 3600:
                    self._last_prune = time.monotonic()
                    try:
                        await asyncio.to_thread(self._prune)
                    except Exception:
                        log.exception("outbox prune failed")

    async def drain(self) -> int:
        total = 0
        while n := await self.run_once():
            total += n
        return total
