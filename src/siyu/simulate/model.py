"""The simulator's data types: its configuration, the events it yields, and the people behind them."""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import Any, Generic, Literal, NamedTuple, TypeVar

T = TypeVar("T")

SimChannel = Literal["miniprogram", "web", "app"]
CHANNELS: tuple[SimChannel, ...] = ("miniprogram", "web", "app")

# The brand's WeChat apps (one Open Platform account, so one UnionID per person across all three).
MP_APPID = "wx5f8a1c3e9b2d7a40"  # the mini-program
APP_WECHAT_APPID = "wx1d2e3f4a5b6c7d80"  # the mobile APP's "log in with WeChat"
WEB_WECHAT_APPID = "wx9e8d7c6b5a4f3e20"  # the website's WeChat QR-code login

# Values buggy clients send as anonymousId (reference/identity.md lists them as junk, never identifiers).
JUNK_IDS = ("undefined", "null", "0")


class Weighted(Generic[T]):
    """A weighted choice with precomputed cumulative weights (``random.choices`` rebuilds them per call)."""

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        self.items = list(items)
        self.cum = list(accumulate(weights))
        self.total = self.cum[-1]

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect(self.cum, rng.random() * self.total)]


@dataclass(frozen=True)
class SimConfig:
    """Everything the generated data depends on: same config => byte-identical messages."""

    people: int = 10_000
    days: int = 90
    seed: int = 42
    end_date: date = field(default_factory=lambda: datetime.now(UTC).date())

    @property
    def start(self) -> datetime:
        """The window is [start, end): ``days`` whole UTC days before ``end_date`` at midnight."""
        return self.end - timedelta(days=self.days)

    @property
    def end(self) -> datetime:
        return datetime(self.end_date.year, self.end_date.month, self.end_date.day, tzinfo=UTC)

    def as_dict(self) -> dict[str, Any]:
        return {"people": self.people, "days": self.days, "seed": self.seed,
                "end_date": self.end_date.isoformat()}


class SimEvent(NamedTuple):
    """One generated message: the channel it is sent on, the Segment message, and the true person."""

    channel: SimChannel
    message: dict[str, Any]
    person: str
    day: int


@dataclass
class ChannelPlan:
    """How one person uses one channel over the window."""

    channel: SimChannel
    mode: str  # member | wechat | guest | anonymous
    login: str  # phone | email | wechat (how a member logs in / how a guest leaves details)
    first_day: int
    session_days: list[int]
    login_session: int  # index of the session in which they identify; -1 = known before the window
    phone_style: int  # how this channel's client formats the phone number (0 = E.164)
    anonymous_id: str
    identified: bool = False
    sessions_done: int = 0
    anon_messages: int = 0  # messages sent without a userId so far


@dataclass
class Person:
    """A true person. Identifier values are what the brand's systems would see."""

    pid: str
    index: int
    existing: bool  # a customer from before the window
    user_id: str
    phone: str  # E.164
    email: str | None
    email_sent: str | None  # the email as this person types it (mixed case, spaces)
    unionid: str | None
    name: str
    plans: dict[SimChannel, ChannelPlan]
    mp_openid: str
    app_openid: str
    web_openid: str
    device: dict[str, Any] | None = None  # the APP device (context.device)
    os: dict[str, str] | None = None
    shared_device: bool = False  # shares a family tablet (device id and anonymousId) with another person
    buggy: bool = False  # their client sends a junk anonymousId once they are logged in
    # orders this person will ask to refund: (order id, total fen, channel); the first ``refunded`` are done
    orders: list[tuple[str, int, SimChannel]] = field(default_factory=list)
    refunded: int = 0
    # (kind, value) pairs actually sent, per channel; kinds as in truth.IDENTIFIER_KINDS
    seen: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
