"""Retention cohorts: who came back, period after period, and what each cohort spent (lifetime-value curves).

- A cohort is a day, an ISO week (from Monday) or a month of brand-local time. ``first_time``: a person
  belongs to the cohort of their first start event ever; ``recurring``: to every period in which they did
  the start event. Cohorts are the whole periods that hold ``start`` to ``end``.
- Returned in period n: persons of the cohort with a return event in the n-th period after the cohort's
  (period 0 is the cohort's own period); periods that begin after ``as_of`` are shown as null.
- Channel: the channel of the start event that put the person in the cohort (for first-time cohorts on
  any event, the acquisition channel: where the person was first seen).
- Revenue: the cohort's ``Order Completed`` ``total_fen`` from its period on, cumulative per period, and per
  person of the cohort (a lifetime-value curve).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from siyu.analytics.behaviour.filters import PropertyFilter, compile_filters
from siyu.analytics.behaviour.schemas import Cohort, CohortMode, RetentionQuery, RetentionResult, Unit
from siyu.analytics.behaviour.sql import DAY_US, US, channel_in, person_key, ratio, where
from siyu.analytics.engine import ORDER_EVENT, Analytics, day_start, local_today


def trunc(unit: Unit, day: date) -> date:
    if unit is Unit.week:
        return day - timedelta(days=day.weekday())
    if unit is Unit.month:
        return day.replace(day=1)
    return day


def add(unit: Unit, day: date, n: int) -> date:
    if unit is Unit.day:
        return day + timedelta(days=n)
    if unit is Unit.week:
        return day + timedelta(weeks=n)
    months = day.year * 12 + day.month - 1 + n
    return date(months // 12, months % 12 + 1, 1)


_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Periods:
    """The period key of an event in SQL: an integer index for days and ISO weeks (integer arithmetic on
    microseconds: much cheaper than calendar functions over every event), the month's first day for
    months."""

    an: Analytics
    unit: Unit

    def key(self) -> str:
        d = self.an.dialect
        off = d.offset * 60 * US
        if self.unit is Unit.day:
            return d.idiv(f"{d.epoch_us('timestamp')} + {off}", str(DAY_US))
        if self.unit is Unit.week:  # 1970-01-01 was a Thursday: weeks start 3 days before it
            return d.idiv(f"{d.epoch_us('timestamp')} + {off + 3 * DAY_US}", str(7 * DAY_US))
        return d.trunc("month", d.local_date("timestamp"))

    def lit(self, day: date) -> str:
        """The key of the period that starts on ``day``."""
        days = (day - _EPOCH).days
        if self.unit is Unit.day:
            return str(days)
        if self.unit is Unit.week:
            return str((days + 3) // 7)
        return self.an.dialect.date_lit(day)

    def between(self, a: str, b: str) -> str:
        return f"({b} - {a})" if self.unit is not Unit.month else self.an.dialect.periods_between("month", a, b)

    def decode(self, value: Any) -> date:
        if self.unit is Unit.day:
            return _EPOCH + timedelta(days=int(value))
        if self.unit is Unit.week:
            return _EPOCH + timedelta(days=7 * int(value) - 3)
        return date.fromisoformat(str(value)[:10])


def _cond(an: Analytics, event: str | None, filters: list[PropertyFilter]) -> list[str]:
    """A start or return event: one name, or any event; with property filters."""
    conds = compile_filters(an.dialect, filters)
    return [f"event = {an.dialect.lit(event)}", *conds] if event is not None else conds


def retention_sql(an: Analytics, q: RetentionQuery) -> str:
    d, unit = an.dialect, q.unit
    key = person_key(d)
    first, after = trunc(unit, q.start), add(unit, trunc(unit, q.end), 1)
    horizon = add(unit, after, q.periods)
    ch = channel_in(d, q.channels)
    periods = Periods(an, unit)
    period = periods.key()
    same = q.start_event == q.return_event and q.start_filters == q.return_filters
    start_conds = _cond(an, q.start_event, q.start_filters) + ch
    lower = f"timestamp >= {d.ts_lit(day_start(an, first))}"
    # the start events per person and period (with the first one's channel); first-time cohorts need history
    start_range = [f"timestamp < {d.ts_lit(day_start(an, horizon if same else after))}"]
    if q.mode is CohortMode.recurring:
        start_range.append(lower)
    no_text = "CAST(NULL, 'Nullable(String)')" if d.ch else "CAST(NULL AS VARCHAR)"
    sch = f", min(timestamp) AS f, {d.arg_min('channel', 'timestamp')} AS sch" if q.by_channel else ""
    ctes = [f"st AS (SELECT {key} AS person, {period} AS p{sch} FROM events "
            f"WHERE {where(start_conds + start_range)} GROUP BY person, p)"]
    in_range = f"c >= {periods.lit(first)} AND c < {periods.lit(after)}"
    if q.mode is CohortMode.first_time:
        ch_first = d.arg_min("sch", "f") if q.by_channel else no_text
        ctes.append(f"coh AS (SELECT person, c, ch FROM (SELECT person, min(p) AS c, {ch_first} AS ch "
                    f"FROM st GROUP BY person) WHERE {in_range})")
    else:
        ch_here = "sch" if q.by_channel else no_text
        ctes.append(f"coh AS (SELECT person, c, ch FROM (SELECT person, p AS c, {ch_here} AS ch FROM st) "
                    f"WHERE {in_range})")
    if same:
        ctes.append("acts AS (SELECT person, p FROM st)")
    else:
        ret_conds = _cond(an, q.return_event, q.return_filters) + ch
        ctes.append(f"acts AS (SELECT DISTINCT {key} AS person, {period} AS p FROM events "
                    f"WHERE {where([*ret_conds, lower, f'timestamp < {d.ts_lit(day_start(an, horizon))}'])})")
    n = periods.between("coh.c", "x.p")
    parts = ["SELECT 0 AS kind, c, ch, 0 AS n, CAST(count(*) AS BIGINT) AS v FROM coh GROUP BY c, ch",
             f"SELECT 1 AS kind, coh.c AS c, coh.ch AS ch, {n} AS n, CAST(count(*) AS BIGINT) AS v FROM coh "
             f"JOIN acts AS x ON x.person = coh.person WHERE x.p >= coh.c AND {n} <= {q.periods} "
             "GROUP BY coh.c, coh.ch, n"]
    if q.revenue:
        rev_conds = [f"event = {d.lit(ORDER_EVENT)}", *ch, lower, f"timestamp < {d.ts_lit(day_start(an, horizon))}"]
        ctes.append(f"rev AS (SELECT {key} AS person, {period} AS p, "
                    f"CAST(sum(coalesce({d.json_int('properties', 'total_fen')}, 0)) AS BIGINT) AS fen FROM events "
                    f"WHERE {where(rev_conds)} GROUP BY person, p)")
        parts.append(f"SELECT 2 AS kind, coh.c AS c, coh.ch AS ch, {n} AS n, CAST(sum(x.fen) AS BIGINT) AS v "
                     f"FROM coh JOIN rev AS x ON x.person = coh.person WHERE x.p >= coh.c AND {n} <= {q.periods} "
                     "GROUP BY coh.c, coh.ch, n")
    return "WITH " + ",\n".join(ctes) + "\n" + " UNION ALL ".join(parts)


def retention(an: Analytics, q: RetentionQuery) -> RetentionResult:
    as_of = q.as_of or local_today(an)
    rows = an.rows(retention_sql(an, q), 1_000_000)
    cells: dict[tuple[str, str | None], dict[tuple[int, int], int]] = {}
    periods = Periods(an, q.unit)
    for kind, c, ch, n, v in rows:
        day = periods.decode(c).isoformat()
        cells.setdefault((day, None if ch is None else str(ch)), {})[(int(kind), int(n))] = int(v or 0)
    cohorts = []
    for (c, ch), got in sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][1] is None, kv[0][1] or "")):
        start = date.fromisoformat(c[:10])
        size = got.get((0, 0), 0)
        seen = [add(q.unit, start, i) <= as_of for i in range(q.periods + 1)]
        returned = [got.get((1, i), 0) if seen[i] else None for i in range(q.periods + 1)]
        revenue: list[int | None] = []
        total = 0
        for i in range(q.periods + 1):
            total += got.get((2, i), 0)
            revenue.append(total if seen[i] else None)
        cohorts.append(Cohort(
            cohort=start, channel=ch, size=size, returned=returned,
            rates=[None if r is None else ratio(r, size) for r in returned],
            revenue_fen=revenue if q.revenue else [],
            ltv_fen=[None if r is None or not size else round(r / size, 2) for r in revenue] if q.revenue else []))
    return RetentionResult(unit=q.unit, mode=q.mode, periods=q.periods, cohorts=cohorts)
