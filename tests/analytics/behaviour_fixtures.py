"""Small hand-made event histories for the behaviour analyses (written to either event store with
:mod:`tests.analytics.stores`). Times are brand-local (UTC+8) days and hours after :data:`DAY`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from siyu.warehouse.record import EventRecord
from tests.analytics.stores import record

DAY = date(2026, 3, 1)  # "day 0" of the fixtures


def at(day: int, hour: float = 12.0) -> datetime:
    """The UTC instant of ``hour`` o'clock (brand-local) on day ``day`` after :data:`DAY`."""
    d = DAY + timedelta(days=day)
    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(hours=hour - 8)


def on(day: int) -> date:
    return DAY + timedelta(days=day)


def ev(person: str, when: datetime, name: str | None, channel: str = "web", *, msg_type: str = "track",
       props: dict[str, Any] | None = None, utm_source: str | None = None) -> EventRecord:
    return record(person, when, name, channel=channel, msg_type=msg_type, properties=props,
                  utm=(utm_source, None, None))
