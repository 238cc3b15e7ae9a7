"""Paths: the most common events right after (or before) a chosen event, per occurrence of it.

A person's events are ordered by time (ties by message id); by default only ``track`` events count
(``include_pages`` adds page and screen views). From every occurrence of the chosen event in the period,
the next ``depth`` events (or the previous ones) make its path; an event further than ``within`` from the
one before it ends the path (``(end)``). Labels carry the channel (``miniprogram:Product Viewed``) unless
``by_channel`` is off, so moves across channels show, and are also counted on their own (``channel_moves``:
where the first next event happened, against where the chosen event did).
"""

from __future__ import annotations

from datetime import timedelta

from siyu.analytics.behaviour.schemas import ChannelMove, Direction, PathRow, PathsQuery, PathsResult
from siyu.analytics.behaviour.sql import US, Bounds, channel_in, event_is, parse_duration, person_key, ratio, where
from siyu.analytics.engine import Analytics

END = "(end)"


def paths_sql(an: Analytics, q: PathsQuery) -> str:
    d = an.dialect
    b = Bounds.of(an, q.start, q.end)
    within = parse_duration(q.within)
    reach = timedelta(seconds=within * q.depth)
    target = where(event_is(d, q.event, q.filters))
    conds = ["event IS NOT NULL", f"timestamp >= {d.ts_lit(b.lo - reach)}", f"timestamp < {d.ts_lit(b.hi + reach)}",
             *channel_in(d, q.channels)]
    if not q.include_pages:
        conds.append("type = 'track'")
    st = (f"SELECT {person_key(d)} AS person, {d.epoch_us('timestamp')} AS t, message_id AS mid, event, "
          f"channel, CASE WHEN {target} THEN 1 ELSE 0 END AS tg FROM events WHERE {where(conds)}")
    fn = "lead" if q.direction is Direction.next else "lag"
    look = ", ".join(f"{fn}(event, {i}) OVER w AS e{i}, {fn}(channel, {i}) OVER w AS c{i}, {fn}(t, {i}) OVER w AS u{i}"
                     for i in range(1, q.depth + 1))
    # the window runs over every event; only occurrences of the chosen one in the period are kept after it
    sq = (f"SELECT person, tg, t AS u0, event AS e0, channel AS c0, {look} FROM st "
          "WINDOW w AS (PARTITION BY person ORDER BY t, mid)")
    oks: list[str] = []
    labels: list[str] = []
    for i in range(q.depth + 1):
        if i == 0:
            ok = "true"
        else:
            gap = f"u{i} - u{i - 1}" if q.direction is Direction.next else f"u{i - 1} - u{i}"
            ok = f"({oks[-1]} AND e{i} IS NOT NULL AND {gap} <= {within * US})"
        oks.append(ok)
        name = f"concat(c{i}, ':', e{i})" if q.by_channel else f"e{i}"
        labels.append(f"CASE WHEN {ok} THEN {name} ELSE {d.lit(END)} END AS l{i}")
    occ = (f"SELECT person, c0, c1, {oks[1]} AS moved, {', '.join(labels)} FROM ({sq}) "
           f"WHERE tg = 1 AND u0 >= {b.lo_us} AND u0 < {b.hi_us}")
    ls = [f"l{i}" for i in range(q.depth + 1)]
    nulls = ", ".join(f"NULL AS {x}" for x in ls)  # every column named: the answer is read as SELECT *
    pd = d.count_distinct("person")
    parts = [
        f"SELECT 0 AS kind, {nulls}, CAST(count(*) AS BIGINT) AS a, CAST({pd} AS BIGINT) AS b FROM occ",
        f"SELECT * FROM (SELECT 1 AS kind, {', '.join(ls)}, CAST(count(*) AS BIGINT) AS a, CAST({pd} AS BIGINT) AS b "
        f"FROM occ GROUP BY {', '.join(ls)} ORDER BY a DESC, {', '.join(ls)} LIMIT {q.top})",
        f"SELECT 2 AS kind, c0 AS l0, c1 AS l1, {''.join(f'NULL AS {x}, ' for x in ls[2:])}"
        f"CAST(count(*) AS BIGINT) AS a, CAST(0 AS BIGINT) AS b FROM occ WHERE moved GROUP BY c0, c1",
    ]
    return f"WITH st AS ({st}), occ AS ({occ})\n" + " UNION ALL ".join(parts)


def paths(an: Analytics, q: PathsQuery) -> PathsResult:
    rows = an.rows(paths_sql(an, q), 10_000)
    n = q.depth + 1
    total = persons = 0
    found: list[PathRow] = []
    moves: list[ChannelMove] = []
    for row in rows:
        kind, labels, a, b = int(row[0]), row[1: 1 + n], int(row[1 + n] or 0), int(row[2 + n] or 0)
        if kind == 0:
            total, persons = a, b
        elif kind == 1:
            found.append(PathRow(path=[str(x) for x in labels], occurrences=a, persons=b, share=None))
        else:
            moves.append(ChannelMove(from_channel=str(labels[0]), to_channel=str(labels[1]), occurrences=a))
    for p in found:
        p.share = ratio(p.occurrences, total)
    found.sort(key=lambda p: (-p.occurrences, p.path))
    moves.sort(key=lambda m: (-m.occurrences, m.from_channel, m.to_channel))
    cross = sum(m.occurrences for m in moves if m.from_channel != m.to_channel)
    return PathsResult(event=q.event, direction=q.direction, occurrences=total, persons=persons, paths=found,
                       cross_channel=cross, channel_moves=[m for m in moves if m.from_channel != m.to_channel])
