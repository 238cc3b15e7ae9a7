"""RFM: per-member recency, frequency and monetary value over a window, scored 1-5 by quintile, named
segments, segment sizes, and how members moved between segments from one day to another.

As of day D with a window of W days, a member's orders are those on the brand-local days D-W+1 .. D:

- recency: days from their last order's day to D (0 = ordered on D); frequency: orders; monetary: the
  sum of the orders' ``total_fen``.
- Each score is ``1 + floor(5 (rank - 1) / n)`` over the n members, ``rank`` being SQL ``RANK()`` in the
  order worse-to-better (recency descending, frequency and monetary ascending). Ties share the lowest rank,
  so equal values always get the same score, and the result does not depend on row order: both engines
  give identical scores. (With many one-order members, every one of them gets F = 1, and the next
  frequency starts at the quintile its rank falls in.)

Everything is computed in one SQL statement (segments by a ``CASE`` over the rules), so only the segment
table (and the members asked for) leaves the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from siyu.analytics.behaviour.sql import person_key
from siyu.analytics.engine import PERSON, Analytics, local_today
from siyu.analytics.value import segments as seg
from siyu.analytics.value.schemas import (
    Movement,
    MovementQuery,
    RfmMember,
    RfmQuery,
    RfmReport,
    SegmentRule,
    SegmentSize,
    Transition,
)
from siyu.analytics.value.sql import conversions, int_sum

SCORING = ("score = 1 + floor(5 * (RANK() - 1) / members), ranked worse to better (recency descending, "
           "frequency and monetary ascending); ties share the lowest rank, so equal values get equal scores")


def _cuts(col: str, order: str, name: str) -> str:
    """The score thresholds of ``col``: for k = 1..4, the last value (in the worse-to-better ``order``) from
    which on ``5 * (RANK() - 1) >= k * members``; a member's score is 1 + the number of thresholds reached.
    RANK() - 1 of a value is the count of members before it: members per distinct value, summed in order."""
    below = (f"SELECT {col} AS v, sum(count(*)) OVER (ORDER BY {col} {order} ROWS BETWEEN UNBOUNDED PRECEDING "
             f"AND CURRENT ROW) - count(*) AS below FROM c GROUP BY {col}")
    pick = "max" if order == "DESC" else "min"
    cuts = ", ".join(f"{pick}(CASE WHEN 5 * below >= {k} * n.n THEN v END) AS {name}{k}" for k in range(1, 5))
    return f"SELECT {cuts} FROM ({below}) AS b CROSS JOIN n"


def _reached(col: str, op: str, name: str) -> str:
    return "1 + " + " + ".join(f"CASE WHEN {col} {op} {name}{k} THEN 1 ELSE 0 END" for k in range(1, 5))


def scored_sql(an: Analytics, as_of: date, window_days: int, event: str, rules: Sequence[SegmentRule],
               person: str = PERSON) -> str:
    """Per member: ``person, recency, frequency, monetary, r, f, m, segment`` (``person`` as text, or the
    given key: answers that only count members group on a 64-bit hash, which is cheaper).

    ClickHouse takes RANK() from three windows. DuckDB avoids sorting every member three times: the
    per-member table is materialised once, each score's four thresholds come from the members per distinct
    value (a window over the few distinct values), and each member compares against them. The same
    numbers, several times faster on a million members."""
    d = an.dialect
    first = as_of - timedelta(days=window_days - 1)
    orders = conversions(an, event, first, as_of, person)
    per_member = (f"SELECT person, {d.days_between('max(day)', d.date_lit(as_of))} AS recency, "
                  f"count(*) AS frequency, {int_sum('fen')} AS monetary FROM ({orders}) AS o GROUP BY person")
    cols = "person, recency, frequency, monetary"
    if d.ch:
        def ranked(order: str) -> str:
            return f"CAST(floor(5 * (rank() OVER (ORDER BY {order}) - 1) / count(*) OVER ()) AS INTEGER) + 1"

        scored = (f"SELECT {cols}, {ranked('recency DESC')} AS r, {ranked('frequency')} AS f, "
                  f"{ranked('monetary')} AS m FROM ({per_member}) AS c")
    else:
        scored = (
            f"WITH c AS MATERIALIZED ({per_member}), n AS (SELECT count(*) AS n FROM c), "
            f"tr AS ({_cuts('recency', 'DESC', 'r')}), tf AS ({_cuts('frequency', 'ASC', 'f')}), "
            f"tm AS ({_cuts('monetary', 'ASC', 'm')}) SELECT {cols}, {_reached('recency', '<=', 'r')} AS r, "
            f"{_reached('frequency', '>=', 'f')} AS f, {_reached('monetary', '>=', 'm')} AS m "
            "FROM c CROSS JOIN tr CROSS JOIN tf CROSS JOIN tm")
    return f"SELECT {cols}, r, f, m, {seg.case_sql(d, rules)} AS segment FROM ({scored}) AS s"


def rfm(an: Analytics, q: RfmQuery) -> RfmReport:
    rules = seg.rules_or_default(q.segments)
    as_of = q.as_of or local_today(an)
    counted = scored_sql(an, as_of, q.window_days, q.event, rules, person_key(an.dialect))
    rows = an.rows(f"SELECT segment, count(*) AS members, {int_sum('recency')} AS recency, "
                   f"{int_sum('frequency')} AS frequency, {int_sum('monetary')} AS monetary "
                   f"FROM ({counted}) AS t GROUP BY segment")
    total = sum(int(r[1]) for r in rows)
    order = {rule.name: i for i, rule in enumerate(rules)}
    sizes = [SegmentSize(segment=str(name), members=int(n), share=round(int(n) / total, 6),
                         recency_days_avg=round(int(rec) / int(n), 4), frequency_avg=round(int(fr) / int(n), 4),
                         monetary_fen_avg=round(int(mon) / int(n)), monetary_fen=int(mon))
             for name, n, rec, fr, mon in sorted(rows, key=lambda r: order.get(str(r[0]), len(order)))]
    members: list[RfmMember] = []
    if q.members:
        scored = scored_sql(an, as_of, q.window_days, q.event, rules)
        where = f"WHERE segment = {an.dialect.lit(q.segment)}" if q.segment else ""
        got = an.rows(f"SELECT person, recency, frequency, monetary, r, f, m, segment FROM ({scored}) AS t "
                      f"{where} ORDER BY r + f + m DESC, monetary DESC, person LIMIT {int(q.members)}")
        members = [RfmMember(person_id=str(p), recency_days=int(rec), frequency=int(fr), monetary_fen=int(mon),
                             r=int(r), f=int(f), m=int(m), segment=str(s)) for p, rec, fr, mon, r, f, m, s in got]
    return RfmReport(as_of=as_of, window_days=q.window_days, customers=total, segments=sizes, members=members,
                     scoring=SCORING)


def movement(an: Analytics, q: MovementQuery) -> Movement:
    """Members' segments on ``start`` and on ``end`` (the same window length), as transition counts."""
    rules = seg.rules_or_default(q.segments)
    pk = person_key(an.dialect)
    both = " UNION ALL ".join(
        f"SELECT person, {side} AS side, segment FROM ({scored_sql(an, day, q.window_days, q.event, rules, pk)}) "
        f"AS s{side}"
        for side, day in ((0, q.start), (1, q.end)))
    rows = an.rows(
        f"SELECT a, b, count(*) AS n FROM (SELECT person, "
        f"max(CASE WHEN side = 0 THEN segment ELSE '' END) AS a, max(CASE WHEN side = 1 THEN segment ELSE '' END) AS b "
        f"FROM ({both}) AS u GROUP BY person) AS t GROUP BY a, b")
    names = [rule.name for rule in rules] + [seg.OTHER, seg.NONE]
    counts: dict[tuple[str, str], int] = {}
    for a, b, n in rows:
        key = (str(a) or seg.NONE, str(b) or seg.NONE)
        counts[key] = counts.get(key, 0) + int(n)
    used = [n for n in names if n != seg.OTHER or any(seg.OTHER in k for k in counts)]
    index = {n: i for i, n in enumerate(used)}
    matrix = [[0] * len(used) for _ in used]
    for (a, b), n in counts.items():
        matrix[index[a]][index[b]] = n
    transitions = [Transition(from_segment=a, to_segment=b, members=n)
                   for (a, b), n in sorted(counts.items(), key=lambda kv: (index[kv[0][0]], index[kv[0][1]]))]
    return Movement(start=q.start, end=q.end, window_days=q.window_days, segments=used, transitions=transitions,
                    matrix=matrix)
