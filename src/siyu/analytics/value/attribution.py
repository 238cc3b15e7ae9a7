"""Attribution: which touches get the credit (and the revenue) for conversions.

A conversion (default ``Order Completed``, revenue its ``total_fen``) on the days ``start`` .. ``end`` has as
its path the person's touches (``touches.py``) in the ``lookback_days`` before it, oldest first (ties by
channel, source, campaign); a conversion with none has the path [direct]. The engine aggregates identical
paths (``count``, revenue) and the credit is shared out here, in Python, from those exact integers, so
both engines give identical reports:

- ``first`` / ``last``: all to the first / last touch; ``last_non_direct``: to the last touch that is not
  ``direct`` (the last one when all are);
- ``linear``: equal shares; ``position``: 40% first, 40% last, 20% shared by the middle (a path of two:
  half each); ``time_decay``: in proportion to ``2^(-age / half_life)``, ages in whole hours before the
  conversion;
- ``markov``: removal effects of a first-order Markov chain over the same keys (``markov.py``), from the
  converting paths and the non-converting ones (persons with touches in the period and no conversion).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from siyu.analytics.engine import Analytics, day_start
from siyu.analytics.value import markov
from siyu.analytics.value.channel_schemas import AttributionQuery, AttributionReport, AttributionRow, Level, Model
from siyu.analytics.value.sql import all_rows, conversions, int_sum
from siyu.analytics.value.touches import DIRECT, touches

Key = tuple[str, ...]
Path = tuple[Key, ...]
HOUR_US = 3_600_000_000
DAY_US = 86_400_000_000
_ORDER = ["t_us", "channel", "source", "campaign"]


def _lists(an: Analytics, ages: bool) -> str:
    d = an.dialect
    cols = [f"{d.ordered_list(c, _ORDER)} AS {c}s" for c in ("channel", "source", "campaign")]
    if ages:
        cols.append(f"{d.ordered_list('age', _ORDER)} AS ages")
    return ", ".join(cols)


def converting_paths(an: Analytics, q: AttributionQuery, ages: bool) -> list[tuple[Path, list[int], int, int]]:
    """(path, ages in hours or [], conversions, revenue fen) per distinct path, sorted."""
    lookback_us = q.lookback_days * DAY_US
    first = day_start(an, q.start) - timedelta(days=q.lookback_days)
    end = day_start(an, q.end + timedelta(days=1))
    conv = conversions(an, q.event, q.start, q.end)
    joined = (f"SELECT c.conv_id AS conv_id, c.fen AS fen, t.us AS t_us, "
              f"CAST(floor((c.us - t.us) / {HOUR_US}) AS BIGINT) AS age, t.channel AS channel, "
              f"t.source AS source, t.campaign AS campaign FROM conv AS c INNER JOIN tch AS t "
              f"ON t.person = c.person WHERE t.us <= c.us AND t.us > c.us - {lookback_us}")
    age_col = ", ages" if ages else ""
    per_conv = f"SELECT conv_id, fen, {_lists(an, ages)} FROM j GROUP BY conv_id, fen"
    direct = f"['{DIRECT}'], ['(direct)'], ['']" + (", [0]" if ages else "")
    sql = (f"WITH conv AS ({conv}), tch AS ({touches(an, first, end)}), j AS ({joined}) "
           f"SELECT channels, sources, campaigns{age_col}, count(*) AS n, {int_sum('fen')} AS revenue "
           f"FROM ({per_conv}) AS p GROUP BY channels, sources, campaigns{age_col} "
           f"UNION ALL SELECT {direct}, count(*) AS n, {int_sum('fen')} AS revenue FROM conv "
           "WHERE conv_id NOT IN (SELECT conv_id FROM j)")
    out: list[tuple[Path, list[int], int, int]] = []
    for row in all_rows(an, sql):
        n = int(row[-2])
        if n:
            path = tuple((str(c), str(s), str(k)) for c, s, k in zip(row[0], row[1], row[2], strict=True))
            out.append((path, [int(a) for a in row[3]] if ages else [], n, int(row[-1])))
    out.sort()
    return out


def non_converting_paths(an: Analytics, q: AttributionQuery) -> list[tuple[Path, int]]:
    """Paths of persons with touches in the period and no conversion in it: (path, persons)."""
    first, end = day_start(an, q.start), day_start(an, q.end + timedelta(days=1))
    conv = conversions(an, q.event, q.start, q.end)
    per_person = (f"SELECT person, {_lists(an, False)} FROM (SELECT person, us AS t_us, channel, source, campaign "
                  f"FROM ({touches(an, first, end)}) AS t) AS tt "
                  f"WHERE person NOT IN (SELECT person FROM ({conv}) AS c) GROUP BY person")
    rows = all_rows(an, f"SELECT channels, sources, campaigns, count(*) AS n FROM ({per_person}) AS p "
                   "GROUP BY channels, sources, campaigns")
    return sorted((tuple((str(c), str(s), str(k)) for c, s, k in zip(r[0], r[1], r[2], strict=True)), int(r[3]))
                  for r in rows)


def weights(q: AttributionQuery, path: Path, ages: Sequence[int]) -> list[float]:
    """Each touch's share of one conversion (they add up to 1)."""
    n = len(path)
    w = [0.0] * n
    if q.model is Model.first:
        w[0] = 1.0
    elif q.model is Model.last:
        w[-1] = 1.0
    elif q.model is Model.last_non_direct:
        chosen = [i for i, touch in enumerate(path) if touch[0] != DIRECT]
        w[chosen[-1] if chosen else n - 1] = 1.0
    elif q.model is Model.linear:
        w = [1.0 / n] * n
    elif q.model is Model.position:
        if n <= 2:
            w = [1.0 / n] * n
        else:
            middle = (1.0 - q.first_share - q.last_share) / (n - 2)
            w = [q.first_share] + [middle] * (n - 2) + [q.last_share]
    elif q.model is Model.time_decay:
        raw = [2.0 ** (-age / (q.half_life_days * 24.0)) for age in ages]
        total = sum(raw)
        w = [v / total for v in raw]
    return w


def level_key(level: Level, touch: Key) -> Key:
    return touch[: {Level.channel: 1, Level.source: 2, Level.campaign: 3}[level]]


def _rows(q: AttributionQuery, credit: dict[Key, list[float]], total: int,
          effects: dict[Key, float] | None = None) -> list[AttributionRow]:
    rows = []
    for key, (conv, revenue) in sorted(credit.items(), key=lambda kv: (-round(kv[1][0], 9), kv[0])):
        rows.append(AttributionRow(
            channel=key[0], source=key[1] if len(key) > 1 else None,
            campaign=(key[2] or None) if len(key) > 2 else None, conversions=round(conv, 4),
            revenue_fen=round(revenue), share=round(conv / total, 6) if total else 0.0,
            removal_effect=None if effects is None else round(effects.get(key, 0.0), 6)))
    return rows


def attribution(an: Analytics, q: AttributionQuery) -> AttributionReport:
    ages = q.model is Model.time_decay
    paths = converting_paths(an, q, ages)
    total = sum(n for _, _, n, _ in paths)
    revenue = sum(r for _, _, _, r in paths)
    credit: dict[Key, list[float]] = {}
    effects: dict[Key, float] | None = None
    if q.model is Model.markov:
        converting = [(tuple(level_key(q.group_by, t) for t in p), n) for p, _, n, _ in paths]
        lost = [(tuple(level_key(q.group_by, t) for t in p), n) for p, n in non_converting_paths(an, q)]
        effects = markov.removal_effects(converting, lost)
        shares = markov.shares(effects)
        for key, share in shares.items():
            credit[key] = [share * total, share * revenue]
    else:
        for path, path_ages, n, rev in paths:
            for touch, w in zip(path, weights(q, path, path_ages), strict=True):
                if w:
                    c = credit.setdefault(level_key(q.group_by, touch), [0.0, 0.0])
                    c[0] += w * n
                    c[1] += w * rev
    return AttributionReport(model=q.model, group_by=q.group_by, start=q.start, end=q.end,
                             lookback_days=q.lookback_days, conversions=total, revenue_fen=revenue,
                             paths=len(paths), rows=_rows(q, credit, total, effects))
