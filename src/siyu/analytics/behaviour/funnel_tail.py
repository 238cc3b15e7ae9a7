"""The per-person end of a funnel statement (see :mod:`.funnel_sql` for the chains).

- ``f<m>``: per person, their first completion of level ``m`` (the earliest chain that reaches it), with
  the microseconds from the previous required step and from the first step: times to convert are measured
  on each step's first completion;
- ``best``: per person, the highest level, and of those the chain that reached it first (``argMin``); only
  when the answer needs persons: a breakdown, optional steps, the persons at a step;
- ``o<i>``: optional step ``i``, done when one of its events falls between the required steps around it in
  the person's best chain; ``bv``: the breakdown value; ``fin``: one row per person.

Without those, the counts come straight from the chains (``fast_select``): the number of distinct persons
with a chain at each level, and the ``f<m>`` aggregates.
"""

from __future__ import annotations

from siyu.analytics.behaviour.funnel_schemas import Attribution
from siyu.analytics.behaviour.funnel_sql import FunnelPlan
from siyu.analytics.behaviour.sql import channel_in, where

LEVEL_WEIGHT = 4_000_000_000_000_000  # larger than any microsecond timestamp before the year 2096


def firsts_ctes(plan: FunnelPlan, source: dict[int, str]) -> list[str]:
    """``f<m>`` for every level m >= 2 from ``source[m]`` (chains at level m, with columns ``t<step>``)."""
    d, req = plan.d, plan.required
    out = []
    for m in range(2, len(req) + 1):
        r, p, r0 = req[m - 1], req[m - 2], req[0]
        out.append(f"f{m} AS (SELECT person, {d.arg_min(f't{r} - t{p}', f't{r}')} AS dp, "
                   f"{d.arg_min(f't{r} - t{r0}', f't{r}')} AS df FROM {source[m]} GROUP BY person)")
    return out


def fast_select(plan: FunnelPlan, level_one: str, with_times: bool) -> str:
    """Counts and times without per-person rows: ``level_one`` lists (person, ...) of the first step."""
    d, req = plan.d, plan.required
    parts = [f"(SELECT {d.count_distinct('person')} AS n FROM {level_one}) AS a1"]
    for m in range(2, len(req) + 1):
        if with_times:
            agg = (f"count(*) AS n, CAST(coalesce(sum(dp), 0) AS BIGINT) AS sp, {d.median_low('dp')} AS mp, "
                    f"CAST(coalesce(sum(df), 0) AS BIGINT) AS sf, {d.median_low('df')} AS mf")
        else:
            agg = "count(*) AS n, NULL AS sp, NULL AS mp, NULL AS sf, NULL AS mf"
        parts.append(f"(SELECT {agg} FROM f{m}) AS a{m}")
    cols = ["NULL AS value", "a1.n AS n", *[f"a{plan.level(i)}.n AS r{i}" for i in range(len(plan.q.steps))]]
    for i in range(1, len(plan.q.steps)):
        m = plan.level(i)
        cols += [f"a{m}.sp AS sp{i}", f"a{m}.mp AS mp{i}", f"a{m}.sf AS sf{i}", f"a{m}.mf AS mf{i}"]
    return f"SELECT {', '.join(cols)} FROM {' CROSS JOIN '.join(parts)}"


def person_ctes(plan: FunnelPlan, with_times: bool) -> list[str]:
    """``best``, optional steps, breakdown values and ``fin`` from ``lv`` (and ``f<m>`` for times)."""
    d, req = plan.d, plan.required
    top = len(req) + 1
    inner = (f"SELECT person, lvl, tend AS e, {', '.join(f't{x} AS p{x}' for x in req)}, "
             f"(CAST({top} AS BIGINT) - lvl) * {LEVEL_WEIGHT} + tend AS k FROM lv")
    cols = ", ".join(f"{d.arg_min(f'p{x}', 'k')} AS t{x}" for x in req)
    ctes = [f"best AS (SELECT person, max(lvl) AS lvl, {d.arg_min('e', 'k')} AS tend, {cols} "
            f"FROM ({inner}) GROUP BY person)"]
    for i, step in enumerate(plan.q.steps):
        if step.optional:
            ctes.append(f"o{i} AS ({optional_sql(plan, i)})")
    if plan.q.breakdown is not None:
        ctes.append(f"bv AS ({breakdown_sql(plan)})")
    joins, out = [], ["b.person AS person", "b.lvl AS lvl"]
    for i, step in enumerate(plan.q.steps):
        if step.optional:
            p = plan.prev_required(i)
            joins.append(f"LEFT JOIN o{i} ON o{i}.person = b.person")
            hit = f"coalesce(o{i}.hit, 0)"
            out += [f"{hit} AS h{i}", f"CASE WHEN {hit} = 1 THEN o{i}.ot - b.t{p} END AS dp{i}",
                    f"CASE WHEN {hit} = 1 THEN o{i}.ot - b.t{req[0]} END AS df{i}"]
        elif i and with_times:
            m = plan.level(i)
            joins.append(f"LEFT JOIN f{m} ON f{m}.person = b.person")
            out += [f"CASE WHEN b.lvl >= {m} THEN f{m}.dp END AS dp{i}",
                    f"CASE WHEN b.lvl >= {m} THEN f{m}.df END AS df{i}"]
    if plan.q.breakdown is not None:
        joins.append("LEFT JOIN bv ON bv.person = b.person")
        out.append("bv.value AS value")
    else:
        out.append("CAST(NULL, 'Nullable(String)') AS value" if d.ch else "CAST(NULL AS VARCHAR) AS value")
    ctes.append(f"fin AS (SELECT {', '.join(out)} FROM best AS b {' '.join(joins)})")
    return ctes


def optional_sql(plan: FunnelPlan, i: int) -> str:
    a, b, r0 = plan.prev_required(i), plan.next_required(i), plan.required[0]
    conds = [f"b.lvl >= {plan.level(a)}", f"s.t > b.t{a}", f"s.t - b.t{r0} <= {plan.window_us}",
             f"(b.lvl < {plan.level(b)} OR s.t < b.t{b})"]
    if (w := plan.step_window_us[i]) is not None:
        conds.append(f"s.t - b.t{a} <= {w}")
    return (f"SELECT b.person AS person, min(s.t) AS ot, 1 AS hit FROM best AS b JOIN s{i} AS s "
            f"ON s.person = b.person WHERE {' AND '.join(conds)} GROUP BY b.person")


def breakdown_sql(plan: FunnelPlan) -> str:
    """First touch: the person's first value (up to the end of the window); last touch: their latest value
    at or before the last step they reached."""
    d, q = plan.d, plan.q
    col = q.breakdown.value if q.breakdown else "channel"
    conds = [f"{col} IS NOT NULL", f"timestamp < {plan.hi_window}", *channel_in(d, q.channels)]
    if q.attribution is Attribution.first_touch:
        return (f"SELECT {plan.key} AS person, {d.arg_min(col, 'timestamp')} AS value FROM events "
                f"WHERE {where(conds)} GROUP BY {plan.key}")
    values = (f"SELECT {plan.key} AS person, {d.epoch_us('timestamp')} AS t, {col} AS value FROM events "
              f"WHERE {where(conds)}")
    return (f"SELECT b.person AS person, v.value AS value FROM best AS b ASOF LEFT JOIN ({values}) AS v "
            f"ON b.person = v.person AND b.tend >= v.t")


def counts_select(plan: FunnelPlan, with_times: bool, grouped: bool) -> str:
    """From ``fin``: one row (per breakdown value when ``grouped``) of persons per step, and sums / lower
    medians of the microseconds from the previous required step and from the first step."""
    d = plan.d
    cols = ["value" if grouped else "NULL AS value", "count(*) AS n"]
    cols += [f"{d.count_if(plan.reached(i))} AS r{i}" for i in range(len(plan.q.steps))]
    for i in range(1, len(plan.q.steps)):
        if not with_times:
            cols += [f"NULL AS sp{i}", f"NULL AS mp{i}", f"NULL AS sf{i}", f"NULL AS mf{i}"]
            continue
        cols += [f"CAST(coalesce(sum(dp{i}), 0) AS BIGINT) AS sp{i}", f"{d.median_low(f'dp{i}')} AS mp{i}",
                 f"CAST(coalesce(sum(df{i}), 0) AS BIGINT) AS sf{i}", f"{d.median_low(f'df{i}')} AS mf{i}"]
    return f"SELECT {', '.join(cols)} FROM fin{' GROUP BY value' if grouped else ''}"
