"""Per-source rate limits (events per second, with a burst of ``SIYU_RATE_LIMIT_BURST_S`` seconds).

A generic cell rate algorithm: the state is one "theoretical arrival time" per source. Embedded, it lives
in the process; on the server runtime it lives in Redis and is updated by one Lua script, so every API
process shares the same budget.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from typing import Any


class RateLimiter(ABC):
    @abstractmethod
    async def acquire(self, key: str, cost: int, rate: float, burst_s: float) -> float:
        """0 if ``cost`` events may pass now (and they are counted), else seconds to wait."""


def _gcra(tat: float, now: float, cost: int, rate: float, burst_s: float) -> tuple[float, float]:
    """(new theoretical arrival time, wait); wait > 0 means refused and the state is unchanged."""
    increment = cost / rate
    new_tat = max(tat, now) + increment
    allow_at = new_tat - max(burst_s, increment)
    if allow_at > now:
        return tat, allow_at - now
    return new_tat, 0.0


class MemoryRateLimiter(RateLimiter):
    def __init__(self) -> None:
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()

    async def acquire(self, key: str, cost: int, rate: float, burst_s: float) -> float:
        now = time.monotonic()
        with self._lock:
            tat, wait = _gcra(self._tat.get(key, now), now, cost, rate, burst_s)
            self._tat[key] = tat
        return wait


_LUA = """
local now = tonumber(ARGV[1])
local increment = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if tat < now then tat = now end
local new_tat = tat + increment
local allow_at = new_tat - math.max(burst, increment)
if allow_at > now then
  return tostring(allow_at - now)
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return '0'
"""


class RedisRateLimiter(RateLimiter):
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._redis: Any = redis.from_url(url)
        self._script = self._redis.register_script(_LUA)

    async def acquire(self, key: str, cost: int, rate: float, burst_s: float) -> float:
        result = await self._script(keys=[f"siyu:rl:{key}"], args=[time.time(), cost / rate, burst_s])
        return float(result)

    async def close(self) -> None:
        await self._redis.aclose()
