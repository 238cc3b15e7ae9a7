"""SQL pieces the behaviour analyses share: who (the person key), when (brand-local days as UTC bounds, time
as integer microseconds), which events (a name, property filters, channels), and durations.

Every analysis returns integers from SQL (counts, sums of fen or of microseconds, medians that are actual
values) and computes rates in Python, so DuckDB and ClickHouse answer with identical numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from siyu.analytics.behaviour.filters import PropertyFilter, compile_filters
from siyu.analytics.dialect import Dialect
from siyu.analytics.engine import PERSON, Analytics, day_start
from siyu.analytics.schemas import Channel

US = 1_000_000
DAY_US = 86_400 * US
# A time far after any event (microseconds): "no such step" in integer columns that both engines keep
# non-nullable (ClickHouse fills unmatched outer-join columns with 0, DuckDB with NULL).
NEVER = 4_000_000_000_000_000


def person_key(d: Dialect) -> str:
    """The person (:data:`~siyu.analytics.engine.PERSON`) as a 64-bit hash: much cheaper to group and join
    on than the text. Two persons sharing a hash (about one chance in 10^7 for a million persons) would be
    counted once."""
    return d.hash64("coalesce(person_id, anonymous_id, user_id, message_id)", "person_id IS NULL")


def person_text() -> str:
    """The person as text, for answers that list persons."""
    return PERSON


@dataclass(frozen=True)
class Bounds:
    """Brand-local days ``start`` to ``end`` (both included) as a UTC interval [lo, hi)."""

    start: date
    end: date
    lo: datetime
    hi: datetime

    @classmethod
    def of(cls, an: Analytics, start: date, end: date) -> Bounds:
        return cls(start, end, day_start(an, start), day_start(an, end + timedelta(days=1)))

    @property
    def lo_us(self) -> int:
        return epoch_us(self.lo)

    @property
    def hi_us(self) -> int:
        return epoch_us(self.hi)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def epoch_us(dt: datetime) -> int:
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def between(d: Dialect, lo: datetime | None, hi: datetime | None) -> list[str]:
    """Conditions on the ``timestamp`` column (the column itself, so both engines prune by it)."""
    out = []
    if lo is not None:
        out.append(f"timestamp >= {d.ts_lit(lo)}")
    if hi is not None:
        out.append(f"timestamp < {d.ts_lit(hi)}")
    return out


def channel_in(d: Dialect, channels: list[Channel]) -> list[str]:
    return [f"channel IN {d.lits([c.value for c in channels])}"] if channels else []


def event_is(d: Dialect, name: str, filters: list[PropertyFilter]) -> list[str]:
    return [f"event = {d.lit(name)}", *compile_filters(d, filters)]


def where(conds: list[str]) -> str:
    return " AND ".join(conds) if conds else "true"


_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


def parse_duration(value: str | int) -> int:
    """Seconds from ``"30m"``, ``"12h"``, ``"7d"``, ``"2w"`` or a number of seconds."""
    if isinstance(value, int):
        seconds = value
    else:
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"{value!r} is not a duration like 30m, 12h, 7d or 2w")
        seconds = int(m.group(1)) * _UNIT_S[m.group(2)]
    if not 1 <= seconds <= 366 * 86_400:
        raise ValueError("a duration is between 1 second and 366 days")
    return seconds


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None
