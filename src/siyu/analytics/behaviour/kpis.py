"""Channel KPIs for a period of brand-local days, with the previous period of the same length beside them.

Definitions (docs/analytics.md, "KPIs"); every figure is computed on the events of the chosen channels:

- new users: persons whose first event ever falls in the period; active users: persons with any event in
  it; DAU / WAU / MAU: active on the last day / the 7 / the 30 days ending on it; DAU average: the mean of
  the period's daily active users;
- new members: persons whose first ``Signed Up`` falls in the period;
- orders, GMV, buyers: ``Order Completed`` events, their ``total_fen``, the persons behind them; AOV is
  GMV / orders (fen, rounded); conversion is buyers / active users; repurchase rate is buyers with two or
  more orders in the period / buyers;
- share rate: persons with a ``Product Shared`` or ``Cart Shared`` event / active users;
- retention D1 / D7 / D30: of the period's new users, those active on the brand-local day 1 / 7 / 30
  after their first day, among those whose day N is not after ``as_of``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from siyu.analytics.behaviour.schemas import KpiQuery, KpiReport, KpiSet, KpiValues, Retained
from siyu.analytics.behaviour.sql import Bounds, between, channel_in, person_key, ratio, where
from siyu.analytics.engine import ORDER_EVENT, Analytics, day_start, local_today
from siyu.analytics.schemas import Channel

SIGN_UP = "Signed Up"
SHARE_EVENTS = ("Product Shared", "Cart Shared")
RETENTION_DAYS = (1, 7, 30)
_COLUMNS = ["new_users", "active_users", "active_days", "dau", "wau", "mau", "new_members", "orders", "gmv_fen",
            "buyers", "repeat_buyers", "sharers"] + [f"{k}{n}" for n in RETENTION_DAYS for k in ("ret", "elig")]


def kpi_sql(an: Analytics, b: Bounds, channels: list[Channel], as_of: date) -> str:
    d = an.dialect
    key = person_key(d)
    ch = channel_in(d, channels)
    period = where(between(d, b.lo, b.hi) + ch)
    local = d.local_date("timestamp")

    def distinct_since(first_day: date) -> str:
        return (f"(SELECT {d.count_distinct(key)} FROM events "
                f"WHERE {where(between(d, day_start(an, first_day), b.hi) + ch)})")

    ctes = [
        f"firsts AS (SELECT {key} AS person, min(timestamp) AS f FROM events "
        f"WHERE {where(between(d, None, b.hi) + ch)} GROUP BY {key})",
        f"newu AS (SELECT person, {d.local_date('f')} AS fd FROM firsts WHERE f >= {d.ts_lit(b.lo)})",
        f"act AS (SELECT DISTINCT {key} AS person, {local} AS day FROM events "
        f"WHERE {where(between(d, b.lo, b.hi + timedelta(days=31)) + ch)})",
        f"ords AS (SELECT {key} AS person, coalesce({d.json_int('properties', 'total_fen')}, 0) AS fen FROM events "
        f"WHERE event = {d.lit(ORDER_EVENT)} AND {period})",
        f"ret AS (SELECT {d.days_between('n.fd', 'a.day')} AS k, {d.days_between('n.fd', d.date_lit(as_of))} AS seen "
        "FROM newu AS n JOIN act AS a ON a.person = n.person)",
    ]
    members = (f"(SELECT count(*) FROM (SELECT {key} AS person, min(timestamp) AS f FROM events "
               f"WHERE event = {d.lit(SIGN_UP)} AND {where(between(d, None, b.hi) + ch)} GROUP BY {key}) "
               f"WHERE f >= {d.ts_lit(b.lo)})")
    in_period = f"day >= {d.date_lit(b.start)} AND day <= {d.date_lit(b.end)}"
    cols = [
        "(SELECT count(*) FROM newu)",
        f"(SELECT {d.count_distinct(key)} FROM events WHERE {period})",
        f"(SELECT count(*) FROM act WHERE {in_period})",
        f"(SELECT count(*) FROM act WHERE day = {d.date_lit(b.end)})",
        distinct_since(b.end - timedelta(days=6)),
        distinct_since(b.end - timedelta(days=29)),
        members,
        "(SELECT count(*) FROM ords)",
        "(SELECT CAST(coalesce(sum(fen), 0) AS BIGINT) FROM ords)",
        f"(SELECT {d.count_distinct('person')} FROM ords)",
        "(SELECT count(*) FROM (SELECT person FROM ords GROUP BY person HAVING count(*) >= 2))",
        f"(SELECT {d.count_distinct(key)} FROM events WHERE event IN {d.lits(SHARE_EVENTS)} AND {period})",
    ]
    for n in RETENTION_DAYS:
        cols.append(f"(SELECT count(*) FROM ret WHERE k = {n} AND seen >= {n})")
        cols.append(f"(SELECT count(*) FROM newu WHERE {d.days_between('fd', d.date_lit(as_of))} >= {n})")
    select = ", ".join(f"{c} AS {name}" for c, name in zip(cols, _COLUMNS, strict=True))
    return "WITH " + ",\n".join(ctes) + f"\nSELECT {select}"


def kpi_values(an: Analytics, start: date, end: date, channels: list[Channel], as_of: date) -> KpiValues:
    b = Bounds.of(an, start, end)
    row = an.rows(kpi_sql(an, b, channels, as_of), 1)[0]
    v: dict[str, int] = {name: int(x or 0) for name, x in zip(_COLUMNS, row, strict=True)}
    retention = {f"retention_d{n}": Retained(retained=v[f"ret{n}"], eligible=v[f"elig{n}"],
                                             rate=ratio(v[f"ret{n}"], v[f"elig{n}"])) for n in RETENTION_DAYS}
    return KpiValues(
        new_users=v["new_users"], active_users=v["active_users"],
        dau_avg=round(v["active_days"] / b.days, 3), dau=v["dau"], wau=v["wau"], mau=v["mau"],
        new_members=v["new_members"], orders=v["orders"], gmv_fen=v["gmv_fen"],
        aov_fen=round(v["gmv_fen"] / v["orders"]) if v["orders"] else None, buyers=v["buyers"],
        conversion=ratio(v["buyers"], v["active_users"]), sharers=v["sharers"],
        share_rate=ratio(v["sharers"], v["active_users"]), repeat_buyers=v["repeat_buyers"],
        repurchase_rate=ratio(v["repeat_buyers"], v["buyers"]), **retention)


def _flat(values: KpiValues) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.model_dump().items():
        out[k] = v["rate"] if isinstance(v, dict) else v
    return out


def compare(current: KpiValues, previous: KpiValues) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """(current - previous, relative change) per figure (retention: its rate)."""
    delta: dict[str, float | None] = {}
    change: dict[str, float | None] = {}
    prev = _flat(previous)
    for k, cur in _flat(current).items():
        p = prev[k]
        delta[k] = None if cur is None or p is None else round(cur - p, 6)
        change[k] = None if cur is None or not p else round((cur - p) / p, 6)
    return delta, change


def kpi_set(an: Analytics, q: KpiQuery, channels: list[Channel], label: str | None, as_of: date) -> KpiSet:
    current = kpi_values(an, q.start, q.end, channels, as_of)
    if not q.compare:
        return KpiSet(channel=label, current=current)
    length = (q.end - q.start).days + 1
    previous = kpi_values(an, q.start - timedelta(days=length), q.start - timedelta(days=1), channels, as_of)
    delta, change = compare(current, previous)
    return KpiSet(channel=label, current=current, previous=previous, delta=delta, change=change)


def kpis(an: Analytics, q: KpiQuery) -> KpiReport:
    as_of = q.as_of or local_today(an)
    length = (q.end - q.start).days + 1
    overall = kpi_set(an, q, q.channels, None, as_of)
    per = [kpi_set(an, q, [c], c.value, as_of) for c in (q.channels or list(Channel))] if q.by_channel else []
    return KpiReport(start=q.start, end=q.end,
                     previous_start=q.start - timedelta(days=length) if q.compare else None,
                     previous_end=q.start - timedelta(days=1) if q.compare else None,
                     channels=[c.value for c in q.channels], overall=overall, by_channel=per)
