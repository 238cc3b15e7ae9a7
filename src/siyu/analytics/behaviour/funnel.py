"""Funnels: how many persons went through a sequence of steps, and who (see :mod:`.funnel_sql`)."""

from __future__ import annotations

from typing import Any

from siyu.analytics.behaviour.funnel_modes import strict_ctes, unordered_ctes
from siyu.analytics.behaviour.funnel_schemas import (
    FunnelGroup,
    FunnelOrder,
    FunnelPersonsQuery,
    FunnelQuery,
    FunnelResult,
    FunnelStepOut,
    PersonPage,
    PersonStatus,
)
from siyu.analytics.behaviour.funnel_sql import FunnelPlan
from siyu.analytics.behaviour.funnel_tail import counts_select, fast_select, firsts_ctes, person_ctes
from siyu.analytics.behaviour.sql import US, Bounds, person_key, person_text, ratio
from siyu.analytics.engine import Analytics


def plan_for(an: Analytics, q: FunnelQuery, key: str | None = None) -> FunnelPlan:
    return FunnelPlan(an.dialect, q, Bounds.of(an, q.start, q.end), key or person_key(an.dialect))


def needs_persons(q: FunnelQuery) -> bool:
    return q.breakdown is not None or q.order is FunnelOrder.unordered or any(s.optional for s in q.steps)


def funnel_sql(plan: FunnelPlan, final: str, persons: bool) -> str:
    """The whole statement: chains, first completions and, when ``persons``, the per-person rows ``fin``."""
    q = plan.q
    times = q.order is not FunnelOrder.unordered
    levels = range(2, len(plan.required) + 1)
    if q.order is FunnelOrder.ordered:
        ctes = plan.step_ctes() + plan.ordered_ctes() + ([plan.ordered_lv()] if persons else [])
        sources = {m: plan.chain(m) for m in levels}
    else:
        ctes = strict_ctes(plan) if q.order is FunnelOrder.strict else unordered_ctes(plan)
        sources = {m: f"(SELECT * FROM lv WHERE lvl >= {m})" for m in levels}
    if times:
        ctes += firsts_ctes(plan, sources)
    if persons:
        ctes += person_ctes(plan, times)
    return "WITH " + ",\n".join(ctes) + "\n" + final


def counts_sql(plan: FunnelPlan) -> str:
    q = plan.q
    times = q.order is not FunnelOrder.unordered
    if not needs_persons(q):
        first = f"s{plan.required[0]}" if q.order is FunnelOrder.ordered else "lv"
        return funnel_sql(plan, f"SELECT 1 AS total, * FROM ({fast_select(plan, first, times)})", False)
    overall = counts_select(plan, times, grouped=False)
    if q.breakdown is None:
        return funnel_sql(plan, f"SELECT 1 AS total, * FROM ({overall})", True)
    per_value = counts_select(plan, times, grouped=True)
    return funnel_sql(plan, f"SELECT 1 AS total, * FROM ({overall}) UNION ALL "
                      f"SELECT 0 AS total, * FROM ({per_value})", True)


def run_funnel(an: Analytics, q: FunnelQuery) -> FunnelResult:
    plan = plan_for(an, q)
    rows = an.rows(counts_sql(plan), 100_000)
    total = next((r for r in rows if int(r[0]) == 1), None)
    groups = [_group(plan, r[1:]) for r in rows if int(r[0]) == 0]
    groups.sort(key=lambda g: (-g.steps[0].persons, g.value is None, g.value or ""))
    return FunnelResult(
        start=q.start.isoformat(), end=q.end.isoformat(), order=q.order, window_seconds=plan.window_us // US,
        steps=_group(plan, total[1:]).steps if total else _group(plan, None).steps,
        breakdown=q.breakdown, attribution=q.attribution if q.breakdown else None, groups=groups)


def _group(plan: FunnelPlan, row: list[Any] | None) -> FunnelGroup:
    steps = plan.q.steps
    n = len(steps)
    value = None if row is None or row[0] is None else str(row[0])
    counts = [0 if row is None else int(row[2 + i] or 0) for i in range(n)]
    times_at = 2 + n
    out = []
    for i, s in enumerate(steps):
        prev = plan.prev_required(i) if i else None
        sums: list[int | None] = [None, None, None, None]
        if i and row is not None:
            sums = [None if v is None else int(v) for v in row[times_at + 4 * (i - 1): times_at + 4 * i]]
        reached = counts[i]

        def avg(total: int | None, reached: int = reached) -> float | None:
            return round(total / reached / US, 3) if total is not None and reached else None

        def med(v: int | None) -> float | None:
            return None if v is None else round(v / US, 3)

        out.append(FunnelStepOut(
            index=i + 1, event=s.event, label=s.label or s.event, optional=s.optional, persons=reached,
            conversion_from_first=ratio(reached, counts[0]) if i else (1.0 if counts[0] else None),
            conversion_from_previous=ratio(reached, counts[prev]) if prev is not None else None,
            dropped=counts[prev] - reached if prev is not None else 0,
            avg_seconds_from_previous=avg(sums[0]), median_seconds_from_previous=med(sums[1]),
            avg_seconds_from_first=avg(sums[2]), median_seconds_from_first=med(sums[3])))
    return FunnelGroup(value=value, steps=out)


def funnel_persons(an: Analytics, pq: FunnelPersonsQuery) -> PersonPage:
    """The persons at (or dropped after) one step, in id order, a page at a time (for targeting)."""
    from siyu.analytics.behaviour.errors import InvalidAnalysis

    q = pq.funnel
    if pq.step > len(q.steps):
        raise InvalidAnalysis(f"the funnel has {len(q.steps)} steps", details={"step": pq.step})
    if pq.breakdown_value is not None and q.breakdown is None:
        raise InvalidAnalysis("breakdown_value needs a breakdown")
    d = an.dialect
    plan = plan_for(an, q, person_text())
    i = pq.step - 1
    conds = [plan.reached(i)]
    if pq.status is PersonStatus.dropped:
        later = [r for r in plan.required if r > i]
        if later:
            conds.append(f"lvl < {plan.level(later[0])}")
    if pq.breakdown_value is not None:
        conds.append(f"value = {d.lit(pq.breakdown_value)}")
    if pq.after is not None:
        conds.append(f"person > {d.lit(pq.after)}")
    final = f"SELECT person FROM fin WHERE {' AND '.join(conds)} ORDER BY person LIMIT {pq.limit + 1}"
    rows = an.rows(funnel_sql(plan, final, True), pq.limit + 1)
    items = [str(r[0]) for r in rows]
    more = len(items) > pq.limit
    items = items[: pq.limit]
    return PersonPage(items=items, next_cursor=items[-1] if more and items else None)
