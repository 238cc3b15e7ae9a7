"""Running analyses: SQL in, rows out, on whichever event store the runtime has.

The event store's ``events`` view gives each event its current person (identity links); every analysis
counts persons through ``person_id`` and falls back to the anonymous id for events no identity resolved
yet (``coalesce(person_id, 'anon:' || anonymous_id)``, see :data:`PERSON`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from siyu.analytics.dialect import Dialect
from siyu.warehouse.base import Warehouse

MAX_ROWS = 1_000_000
# Who did it: the resolved person, else the anonymous browser (never NULL, so counts are stable).
PERSON = "coalesce(person_id, concat('anon:', coalesce(anonymous_id, user_id, message_id)))"
ORDER_EVENT = "Order Completed"  # the default conversion; its properties carry total_fen


@dataclass
class Analytics:
    """One event store and how to speak its SQL."""

    warehouse: Warehouse
    dialect: Dialect
    timeout_s: float = 60.0

    @classmethod
    def of(cls, warehouse: Warehouse, tz_offset_minutes: int = 480, timeout_s: float = 60.0) -> Analytics:
        return cls(warehouse, Dialect(warehouse.dialect, tz_offset_minutes), timeout_s)

    def rows(self, sql: str, max_rows: int = MAX_ROWS) -> list[list[Any]]:
        return self.warehouse.query(sql, max_rows, self.timeout_s).rows

    def scalar(self, sql: str) -> Any:
        rows = self.rows(sql, 1)
        return rows[0][0] if rows else None


def day_start(an: Analytics, day: date) -> datetime:
    """The UTC instant at which the brand-local ``day`` begins."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(minutes=an.dialect.offset)


def local_today(an: Analytics) -> date:
    """Today in the brand's time zone."""
    return (datetime.now(UTC) + timedelta(minutes=an.dialect.offset)).date()
