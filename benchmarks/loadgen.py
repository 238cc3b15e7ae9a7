"""A small HTTP/1.1 load generator on raw asyncio streams (keep-alive, pre-built requests), light
enough that the client does not become the bottleneck on a 2-core machine. Used by the benchmarks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def build_request(path: str, body: bytes, headers: dict[str, str], host: str = "127.0.0.1") -> bytes:
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}", "Connection: keep-alive"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _roundtrip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def closed_loop(host: str, port: int, requests: list[bytes], concurrency: int) -> tuple[float, dict[int, int]]:
    """Send every request once over ``concurrency`` keep-alive connections, as fast as answers come.
    Returns (elapsed seconds, {status: count})."""
    statuses: dict[int, int] = {}
    it = iter(requests)

    async def conn() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for req in it:
                s = await _roundtrip(reader, writer, req)
                statuses[s] = statuses.get(s, 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(conn() for _ in range(concurrency)))
    return time.perf_counter() - started, statuses


async def open_loop(
    host: str, port: int, make: Callable[[int], bytes], rate: float, duration: float, connections: int
) -> tuple[list[float], dict[int, int]]:
    """Send ``rate`` requests per second for ``duration`` seconds on a fixed schedule; latency is
    measured from each request's *scheduled* time, so a stall is not hidden (no coordinated omission).
    Returns (latencies in seconds, {status: count})."""
    total = int(rate * duration)
    interval = 1.0 / rate
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

    async def conn() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                scheduled, req = item
                s = await _roundtrip(reader, writer, req)
                latencies.append(time.perf_counter() - scheduled)
                statuses[s] = statuses.get(s, 0) + 1
        finally:
            writer.close()

    workers = [asyncio.create_task(conn()) for _ in range(connections)]
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    for i in range(total):
        scheduled = start + i * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((scheduled, make(i)))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return latencies, statuses
