"""Delivering simulated messages: through the real tracking API, or in process through its bulk path.

- ``send_bulk``: per channel, chunks of up to 500 messages go to ``Collector.accept_items`` (the same
  validation and enrichment as ``POST /v1/batch``) and are published to the bus. No ``sentAt`` is sent,
  so the historical timestamps are kept.
- ``send_api``: ``POST /v1/batch`` with 100 messages per request, Basic auth with the channel's write
  key, a few requests in flight, 429 / 503 retried after ``Retry-After`` and network errors with backoff.

Both count what the API accepted and rejected (a correct simulation has no rejections).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec

from siyu.collect.errors import AllRejected
from siyu.collect.service import IngestResult
from siyu.collect.wire import BatchEnvelope
from siyu.runtime import Runtime
from siyu.simulate.model import SimEvent
from siyu.sources.service import SourceAuth

BULK_CHUNK = 500
API_BATCH = 100
MAX_NETWORK_ERRORS = 6  # per request, about 15 s of backoff in all
_encode = msgspec.json.Encoder().encode
OnEvent = Callable[[SimEvent], None]
Submit = Callable[[str, list[msgspec.Raw]], Coroutine[Any, Any, None]]


class SendError(Exception):
    """The API refused a whole request in a way retrying cannot fix (say, an unknown write key)."""


@dataclass
class Delivery:
    via: str
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    requests: int = 0
    retries: int = 0
    bytes: int = 0
    max_message_bytes: int = 0
    seconds: float = 0.0
    rejections: list[dict[str, Any]] = field(default_factory=list)  # the first few, with reasons

    def reject(self, n: int, details: list[dict[str, Any]]) -> None:
        self.rejected += n
        self.rejections.extend(details[: max(0, 20 - len(self.rejections))])

    def as_dict(self) -> dict[str, Any]:
        rate = self.sent / self.seconds if self.seconds else 0.0
        return {"via": self.via, "sent": self.sent, "accepted": self.accepted, "rejected": self.rejected,
                "requests": self.requests, "retries": self.retries, "bytes": self.bytes,
                "max_message_bytes": self.max_message_bytes, "seconds": round(self.seconds, 2),
                "events_per_second": round(rate), "rejections": self.rejections}


async def _pump(events: Iterable[SimEvent], size: int, concurrency: int, delivery: Delivery,
                submit: Submit, on_event: OnEvent | None) -> None:
    """Encode and group messages per channel; run ``submit`` on full groups, ``concurrency`` at a time."""
    started = time.perf_counter()
    pending: dict[str, list[msgspec.Raw]] = {}
    inflight: set[asyncio.Task[None]] = set()

    async def launch(channel: str, batch: list[msgspec.Raw]) -> None:
        while len(inflight) >= concurrency:
            done, _ = await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                inflight.discard(task)
                task.result()
        inflight.add(asyncio.create_task(submit(channel, batch)))
        await asyncio.sleep(0)  # let the request start while the next batch is generated

    try:
        for ev in events:
            raw = _encode(ev.message)
            delivery.sent += 1
            delivery.bytes += len(raw)
            delivery.max_message_bytes = max(delivery.max_message_bytes, len(raw))
            if on_event is not None:
                on_event(ev)
            batch = pending.setdefault(ev.channel, [])
            batch.append(msgspec.Raw(raw))
            if len(batch) >= size:
                pending[ev.channel] = []
                await launch(ev.channel, batch)
        for channel, batch in pending.items():
            if batch:
                await launch(channel, batch)
        for task in asyncio.as_completed(list(inflight)):
            await task
        inflight.clear()
    finally:
        for task in inflight:
            task.cancel()
        delivery.seconds = time.perf_counter() - started


async def send_bulk(runtime: Runtime, sources: dict[str, SourceAuth], events: Iterable[SimEvent], *,
                    on_event: OnEvent | None = None, chunk: int = BULK_CHUNK, concurrency: int = 4) -> Delivery:
    """In process: the tracking API's validation (``Collector.accept_items``), then the bus."""
    delivery = Delivery(via="bulk")

    async def submit(channel: str, batch: list[msgspec.Raw]) -> None:
        delivery.requests += 1
        try:
            result: IngestResult = await runtime.collector.accept_items(
                sources[channel], BatchEnvelope(batch=batch), None)
        except AllRejected as exc:
            delivery.reject(len(batch), list(exc.details or []))
            return
        delivery.accepted += result.accepted
        delivery.reject(len(result.rejected), [{"index": r.index, "code": r.code, "message": r.message}
                                               for r in result.rejected])

    await _pump(events, chunk, concurrency, delivery, submit, on_event)
    return delivery


def _retry_after(response: httpx.Response, attempt: int) -> float:
    try:
        return max(0.1, float(str(response.headers.get("retry-after", ""))))
    except ValueError:
        return float(min(5.0, 0.25 * 2**attempt))


async def send_api(url: str, keys: dict[str, str], events: Iterable[SimEvent], *,
                   on_event: OnEvent | None = None, batch_size: int = API_BATCH, concurrency: int = 4,
                   request_timeout: float = 60.0, max_attempts: int = 30) -> Delivery:
    """Over HTTP: ``POST {url}/v1/batch`` as the official clients do."""
    delivery = Delivery(via="api")
    auth = {ch: "Basic " + base64.b64encode(f"{key}:".encode()).decode() for ch, key in keys.items()}

    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=request_timeout) as client:

        async def submit(channel: str, batch: list[msgspec.Raw]) -> None:
            body = _encode({"batch": batch})
            headers = {"Authorization": auth[channel], "Content-Type": "application/json"}
            network_errors = 0
            for attempt in range(max_attempts):
                delivery.requests += 1
                try:
                    r = await client.post("/v1/batch", content=body, headers=headers)
                except httpx.TransportError as exc:
                    network_errors += 1
                    if network_errors > MAX_NETWORK_ERRORS:
                        raise SendError(f"cannot reach {url}: {exc!r}") from exc
                    delivery.retries += 1
                    await asyncio.sleep(min(5.0, 0.25 * 2**network_errors))
                    continue
                if r.status_code == 200:
                    out = r.json()
                    delivery.accepted += int(out.get("accepted", 0))
                    rejected = list(out.get("rejected", []))
                    delivery.reject(len(rejected), rejected)
                    return
                if r.status_code in (429, 503) or r.status_code >= 500:
                    delivery.retries += 1
                    await asyncio.sleep(_retry_after(r, attempt))
                    continue
                error = r.json().get("error", {}) if r.headers.get("content-type", "").startswith(
                    "application/json") else {}
                if r.status_code == 400 and error.get("code") == "all_messages_rejected":
                    delivery.reject(len(batch), list(error.get("details") or []))
                    return
                raise SendError(f"POST /v1/batch answered {r.status_code}: {r.text[:300]}")
            raise SendError(f"POST /v1/batch still failing after {max_attempts} attempts")

        await _pump(events, batch_size, concurrency, delivery, submit, on_event)
    return delivery
