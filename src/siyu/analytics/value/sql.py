"""SQL pieces the value analyses share: order history from the event store, brand-local days as UTC bounds.

Order history is the event store's ``Order Completed`` events (live orders and imported ones both emit them,
see ``siyu.orders.events`` and ``siyu.imports.orders``): who (:data:`~siyu.analytics.engine.PERSON`), when,
and ``total_fen``, the exact amount in fen (an order without it counts as 0 fen).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from siyu.analytics.engine import MAX_ROWS, PERSON, Analytics, day_start
from siyu.analytics.value.errors import TooManyRows


def int_sum(expr: str) -> str:
    """An integer sum that stays a 64-bit integer on both engines (0 for no rows)."""
    return f"CAST(coalesce(sum({expr}), 0) AS BIGINT)"


def conversions(an: Analytics, event: str, first: date | None, last: date | None, person: str = PERSON) -> str:
    """One row per conversion event (default ``Order Completed``) on the brand-local days ``first`` to
    ``last`` (both included; None: unbounded): ``person, us`` (microseconds), ``day`` (brand-local date),
    ``fen`` (``total_fen``, 0 when absent), ``channel`` (where it happened), ``conv_id``. ``person`` is
    the person as text by default; an analysis that only counts persons may pass a narrower key (a hash)."""
    d = an.dialect
    where = ["type = 'track'", f"event = {d.lit(event)}"]
    if first is not None:
        where.append(f"timestamp >= {d.ts_lit(day_start(an, first))}")
    if last is not None:
        where.append(f"timestamp < {d.ts_lit(day_start(an, last + timedelta(days=1)))}")
    return (f"SELECT {person} AS person, {d.epoch_us('timestamp')} AS us, {d.local_date('timestamp')} AS day, "
            f"coalesce({d.json_int('properties', 'total_fen')}, 0) AS fen, channel, "
            f"concat(source_id, ':', message_id) AS conv_id FROM events WHERE {' AND '.join(where)}")


def all_rows(an: Analytics, sql: str) -> list[list[Any]]:
    """Every row of ``sql``, or :class:`TooManyRows` (never a silently cut result)."""
    result = an.warehouse.query(sql, MAX_ROWS, an.timeout_s)
    if result.truncated:
        raise TooManyRows(details={"max_rows": MAX_ROWS})
    return result.rows
