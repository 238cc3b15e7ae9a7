"""What all visits share: the random source, message ids, share cards and open group buys, order
numbers, and the counts the summary reports."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from siyu.simulate import brand
from siyu.simulate.brand import Product
from siyu.simulate.model import Person, SimChannel

DAY_MS = 86_400_000
Sink = Callable[[Person, SimChannel, dict[str, Any], int], None]
_MASK = (1 << 122) - 1  # a version-4 UUID has 122 free bits
_MULT = 0x1E3779B97F4A7C15F39CC0605CEDC835  # odd: counter -> bits is a bijection, so ids never repeat


@dataclass
class Share:
    ts: int
    share_id: str
    product: Product
    sharer_openid: str
    via: str  # wechat_friend | wechat_group


@dataclass
class GroupBuy:
    ts: int
    group_buy_id: str
    product: Product
    size: int
    initiator_openid: str
    joined: int = 1


@dataclass
class World:
    rng: random.Random
    seed: int
    end_ms: int
    sink: Sink
    registered: set[str] = field(default_factory=set)
    shares: list[Share] = field(default_factory=list)
    group_buys: list[GroupBuy] = field(default_factory=list)
    orders: int = 0
    messages: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    flags: dict[str, set[str]] = field(default_factory=dict)

    def message_id(self) -> str:
        """A random-looking version-4 UUID, unique within the run (a bijection of a counter) and
        different for every seed; cheaper than drawing 128 random bits per message."""
        self.messages += 1
        v = ((self.messages + self.seed * 0x5851F42D4C957F2D) * _MULT) & _MASK
        v ^= v >> 61
        u = (v >> 74) << 80 | 0x4 << 76 | ((v >> 62) & 0xFFF) << 64 | 0x2 << 62 | (v & ((1 << 62) - 1))
        h = f"{u:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def trim(self, now_ms: int) -> None:
        self.shares = [s for s in self.shares if now_ms - s.ts < 3 * DAY_MS][-2000:]
        self.group_buys = [g for g in self.group_buys if now_ms - g.ts < DAY_MS and g.joined < g.size]

    def pick_share(self, t: int) -> Share | None:
        for _ in range(3):
            if not self.shares:
                return None
            share = self.shares[self.rng.randrange(len(self.shares))]
            if share.ts < t:
                return share
        return None

    def pick_group_buy(self, t: int) -> GroupBuy | None:
        open_ = [g for g in self.group_buys[-200:] if g.ts < t < g.ts + DAY_MS and g.joined < g.size]
        return self.rng.choice(open_) if open_ else None

    def order_id(self, t: int) -> str:
        self.orders += 1
        day = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=t)
        return f"SC{day:%Y%m%d}{self.orders:07d}"

    def product(self) -> Product:
        return brand.POPULAR.pick(self.rng)
