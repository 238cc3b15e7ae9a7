"""The ``lv`` table (ways persons reached a level) of strict and unordered funnels; see :mod:`.funnel_sql`.

- strict: from every first-step event in the period, the person's next named events (track, page and
  screen calls, in time order, ties by message id) must be the next steps, one after another, inside the
  windows. ``lead`` over the person's ordered events reads them.
- unordered: from every event of any step in the period (the anchor), a step counts when one of its events
  happens at or after the anchor and inside the window; the level is how many steps did. An event that
  matches two steps counts for both.
"""

from __future__ import annotations

from siyu.analytics.behaviour.funnel_sql import FunnelPlan
from siyu.analytics.behaviour.sql import channel_in, event_is, where


def strict_ctes(plan: FunnelPlan) -> list[str]:
    d, q, b = plan.d, plan.q, plan.bounds
    n = len(q.steps)
    flags = ", ".join(f"CASE WHEN {where(event_is(d, s.event, s.filters))} THEN 1 ELSE 0 END AS f{i}"
                      for i, s in enumerate(q.steps))
    conds = ["event IS NOT NULL", f"timestamp >= {d.ts_lit(b.lo)}", f"timestamp < {plan.hi_window}",
             *channel_in(d, q.channels)]
    st = (f"SELECT {plan.key} AS person, {d.epoch_us('timestamp')} AS t, message_id AS mid, {flags} "
          f"FROM events WHERE {where(conds)}")
    ahead = ", ".join(f"coalesce(lead(f{i}, {i}) OVER w, 0) AS g{i}, coalesce(lead(t, {i}) OVER w, 0) AS u{i}"
                      for i in range(1, n))
    sq = (f"SELECT person, t AS u0, f0, {ahead} FROM st "
          "WINDOW w AS (PARTITION BY person ORDER BY t, mid)")
    level = "0"
    for i in reversed(range(1, n)):
        ok = [f"g{i} = 1", f"u{i} - u0 <= {plan.window_us}"]
        if (w := plan.step_window_us[i]) is not None:
            ok.append(f"u{i} - u{i - 1} <= {w}")
        level = f"(CASE WHEN {' AND '.join(ok)} THEN 1 + {level} ELSE 0 END)"
    tries = f"SELECT person, u0, {', '.join(f'u{i}' for i in range(1, n))}, 1 + {level} AS lvl FROM sq " \
            f"WHERE f0 = 1 AND u0 < {b.hi_us}"
    tend = "CASE lvl " + " ".join(f"WHEN {i + 1} THEN u{i}" for i in range(n)) + " END"
    cols = ", ".join(f"CASE WHEN lvl > {i} THEN u{i} ELSE CAST(0 AS BIGINT) END AS t{i}" for i in range(n))
    lv = f"SELECT person, lvl, {tend} AS tend, {cols} FROM ({tries})"
    return [f"st AS ({st})", f"sq AS ({sq})", f"lv AS ({lv})"]


def unordered_ctes(plan: FunnelPlan) -> list[str]:
    q, b = plan.q, plan.bounds
    sources = " UNION ALL ".join(
        f"SELECT person, t, {i} AS step FROM ({plan.events_sql(s, False)})" for i, s in enumerate(q.steps))
    anchors = f"SELECT DISTINCT person, t AS a FROM u WHERE t < {b.hi_us}"
    hits = ("SELECT n.person AS person, n.a AS a, u.step AS step, min(u.t) AS ft FROM anch AS n "
            f"JOIN u ON u.person = n.person WHERE u.t >= n.a AND u.t - n.a <= {plan.window_us} "
            "GROUP BY n.person, n.a, u.step")
    cols = ", ".join("a AS t0" if i == 0 else f"CAST(0 AS BIGINT) AS t{i}" for i in range(len(q.steps)))
    lv = f"SELECT person, count(*) AS lvl, max(ft) AS tend, {cols} FROM hit GROUP BY person, a"
    return [f"u AS ({sources})", f"anch AS ({anchors})", f"hit AS ({hits})", f"lv AS ({lv})"]
