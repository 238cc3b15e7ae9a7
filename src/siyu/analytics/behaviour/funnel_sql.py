"""A funnel as one SQL statement that DuckDB and ClickHouse both run (see docs/analytics.md, "Funnels").

The statement is built from common table expressions:

- ``s<i>``: the events of step ``i`` (name, property filters, channels) as ``(person, t)`` with ``t`` in
  integer microseconds; the first step within the period, later steps up to the window after its end;
- ``lv``: one row per way a person reached a level (``lvl`` required steps) with the time of each
  required step; built by :mod:`.funnel_modes` for strict and unordered funnels, and here for ordered
  ones by *backward chaining*: for every event of required step ``m`` the latest qualifying chain that ends
  just before it (a join with a per-event ``max``). Chains are monotone (a later event never has an
  earlier best chain), so the ``max`` of each column is the latest chain, and the latest chain is the
  best one for the overall window, the per-step windows and exclusions alike (its intervals are the
  shortest): a person reaches step ``m`` exactly when some sequence of their events does;
- then (:mod:`.funnel_tail`) per person and step the first completion (for times to convert), and, when
  the answer needs persons (a breakdown, optional steps, the persons at a step), the best level per person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from siyu.analytics.behaviour.funnel_schemas import FunnelQuery, FunnelStep
from siyu.analytics.behaviour.sql import US, Bounds, between, channel_in, event_is, parse_duration, where
from siyu.analytics.dialect import Dialect


@dataclass
class FunnelPlan:
    d: Dialect
    q: FunnelQuery
    bounds: Bounds
    key: str  # the person key expression (hash for counts, text for persons)
    window_us: int = 0
    required: list[int] = field(default_factory=list)  # indices of required steps
    step_window_us: list[int | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.window_us = parse_duration(self.q.window) * US
        self.required = [i for i, s in enumerate(self.q.steps) if not s.optional]
        self.step_window_us = [None if s.window is None else parse_duration(s.window) * US for s in self.q.steps]

    # -- sources ----------------------------------------------------------------------------------------
    @property
    def hi_window(self) -> str:
        return self.d.ts_lit(self.bounds.hi + timedelta(microseconds=self.window_us))

    def events_sql(self, step: FunnelStep, first: bool) -> str:
        d, b = self.d, self.bounds
        conds = event_is(d, step.event, step.filters) + channel_in(d, self.q.channels)
        conds += between(d, b.lo, b.hi) if first else [f"timestamp >= {d.ts_lit(b.lo)}",
                                                       f"timestamp < {self.hi_window}"]
        return f"SELECT {self.key} AS person, {d.epoch_us('timestamp')} AS t FROM events WHERE {where(conds)}"

    def step_ctes(self) -> list[str]:
        """``s<i>`` per step and ``x<j>`` per exclusion. Later steps are distinct (person, t): the same
        answer, and a grouped relation is one DuckDB's planner sees as small, so it builds the join's hash
        table on it rather than on the (usually much larger) first step."""
        ctes = [f"s0 AS ({self.events_sql(self.q.steps[0], True)})"]
        ctes += [f"s{i} AS (SELECT person, t FROM ({self.events_sql(s, False)}) GROUP BY person, t)"
                 for i, s in enumerate(self.q.steps) if i]
        for j, x in enumerate(self.q.exclusions):
            step = FunnelStep(event=x.event, filters=x.filters)
            ctes.append(f"x{j} AS (SELECT person, t FROM ({self.events_sql(step, False)}) GROUP BY person, t)")
        return ctes

    def level(self, i: int) -> int:
        """The level (1-based count of required steps) of required step ``i``."""
        return self.required.index(i) + 1

    def prev_required(self, i: int) -> int:
        return max(r for r in self.required if r < i)

    def next_required(self, i: int) -> int:
        return min(r for r in self.required if r > i)

    # -- ordered: backward chains -----------------------------------------------------------------------
    def ordered_ctes(self) -> list[str]:
        r0 = self.required[0]
        ctes = [f"c1 AS (SELECT person, t AS t{r0} FROM s{r0})"]
        for m in range(2, len(self.required) + 1):
            r, p = self.required[m - 1], self.required[m - 2]
            before = self.required[: m - 1]
            conds = [f"c.t{p} < s.t", f"s.t - c.t{r0} <= {self.window_us}"]
            if (w := self.step_window_us[r]) is not None:
                conds.append(f"s.t - c.t{p} <= {w}")
            inner = (f"SELECT s.person AS person, s.t AS e, {', '.join(f'c.t{x} AS p{x}' for x in before)} "
                     f"FROM s{r} AS s JOIN c{m - 1} AS c ON s.person = c.person WHERE {' AND '.join(conds)}")
            cols = ", ".join(f"max(p{x}) AS t{x}" for x in before)
            raw = f"SELECT person, e AS t{r}, {cols} FROM ({inner}) GROUP BY person, e"
            excl = [(j, x) for j, x in enumerate(self.q.exclusions)
                    if (x.before_step or len(self.q.steps)) - 1 == r]
            if not excl:
                ctes.append(f"c{m} AS ({raw})")
                continue
            ctes.append(f"c{m}r AS ({raw})")
            hits = " UNION ALL ".join(
                f"SELECT c.person AS person, c.t{r} AS tr FROM c{m}r AS c JOIN x{j} AS x ON x.person = c.person "
                f"WHERE x.t > c.t{x.after_step - 1} AND x.t < c.t{r}" for j, x in excl)
            ctes.append(f"h{m} AS (SELECT person, tr, 1 AS hit FROM ({hits}) GROUP BY person, tr)")
            ctes.append(f"c{m} AS (SELECT c.* FROM c{m}r AS c LEFT JOIN h{m} AS h ON h.person = c.person "
                        f"AND h.tr = c.t{r} WHERE coalesce(h.hit, 0) = 0)")
        return ctes

    def chain(self, m: int) -> str:
        """The table of qualifying chains that reach level ``m`` (one row per last-step event)."""
        return f"s{self.required[0]}" if m == 1 else f"c{m}"

    def ordered_lv(self) -> str:
        """``lv``: every way a person reached each level (the first step once, at its first event)."""
        branches = [self.level_one()]
        for m in range(2, len(self.required) + 1):
            r = self.required[m - 1]
            cols = ", ".join(f"t{x}" if self.level(x) <= m else f"CAST(0 AS BIGINT) AS t{x}" for x in self.required)
            branches.append(f"SELECT person, {m} AS lvl, t{r} AS tend, {cols} FROM c{m}")
        return f"lv AS ({' UNION ALL '.join(branches)})"

    def level_one(self) -> str:
        """Everyone who did the first step in the period, at their first such event."""
        r0 = self.required[0]
        cols = ", ".join(f"min(t) AS t{x}" if x == r0 else f"CAST(0 AS BIGINT) AS t{x}" for x in self.required)
        return f"SELECT person, 1 AS lvl, min(t) AS tend, {cols} FROM s{r0} GROUP BY person"

    # -- reading ----------------------------------------------------------------------------------------
    def reached(self, i: int) -> str:
        """Whether a ``fin`` row reached listed step ``i``."""
        return f"h{i} = 1" if self.q.steps[i].optional else f"lvl >= {self.level(i)}"
