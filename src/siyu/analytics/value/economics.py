"""Channel economics: per acquisition channel (or campaign), what was spent, whom it brought, how they
behaved and what they are worth, as of a day.

- **spend**: entries in the report's currency, each prorated by the share of its days inside the period
  (``amount * overlap_days // entry_days``, rounded to the nearest fen);
- **visitors**: persons whose first touch ever (``touches.py``, before the period's end) was in the
  period, keyed by that touch; **converted** ones ordered at or after it, up to ``as_of``;
- **new customers**: persons whose first order ever was in the period, acquired by the first touch in the
  ``lookback_days`` before that order (``direct`` when none); **CAC** = spend / new customers;
- **retention**: of new customers whose first order was at least ``retention_days`` before ``as_of``, the share
  with any event on the days 1..retention_days after it; **repurchase**: likewise, the share with another
  order day within ``repurchase_days``;
- **LTV**: ``realised`` = their orders from the first to ``as_of`` per new customer; ``predicted`` = that
  plus the lifetime-value model's (``clv.py``, fitted on all orders up to ``as_of``) expected value over
  ``ltv_horizon_days``; **LTV/CAC** their ratio.

Counts and sums come out of the engine as integers, so both engines give identical reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from siyu.analytics.engine import PERSON, Analytics, day_start, local_today
from siyu.analytics.value import clv
from siyu.analytics.value.channel_schemas import EconomicsQuery, EconomicsReport, EconomicsRow, Level, SpendOut
from siyu.analytics.value.schemas import ClvQuery
from siyu.analytics.value.sql import all_rows, conversions, int_sum
from siyu.analytics.value.touches import DIRECT, classified, touches

Key = tuple[str, str]  # (channel, campaign); campaign '' for the channel level
DAY_US = 86_400_000_000
_ORDER = ["t_us", "channel", "source", "campaign"]
_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)
DISCOUNT_RATE = ClvQuery.model_fields["discount_rate"].default


def prorated(spends: Sequence[SpendOut], q: EconomicsQuery) -> dict[Key, int]:
    out: dict[Key, int] = {}
    for s in spends:
        if s.currency != q.currency:
            continue
        overlap = (min(s.end, q.end) - max(s.start, q.start)).days + 1
        if overlap <= 0:
            continue
        days = (s.end - s.start).days + 1
        key = (s.channel, (s.campaign or "") if q.group_by is Level.campaign else "")
        out[key] = out.get(key, 0) + (s.amount_fen * overlap + days // 2) // days
    return out


def _first_elements(an: Analytics, source: str, person_col: str) -> str:
    d = an.dialect
    lists = ", ".join(f"{d.ordered_list(c, _ORDER)} AS {c}s" for c in ("channel", "source", "campaign"))
    return (f"SELECT person, channels[1] AS channel, sources[1] AS source, campaigns[1] AS campaign FROM ("
            f"SELECT {person_col} AS person, {lists} FROM {source} GROUP BY {person_col}) AS l")


def customers_sql(an: Analytics, q: EconomicsQuery, as_of: date) -> str:
    """New customers: ``person, channel, source, campaign, first_day, revenue, gap`` (days to the second order
    day, NULL without one) and ``retained`` (0/1)."""
    d = an.dialect
    lo, hi = day_start(an, q.start), day_start(an, q.end + timedelta(days=1))
    lb = q.lookback_days * DAY_US
    lo_us = (lo - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    hi_us = (hi - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    seen_end = min(day_start(an, as_of + timedelta(days=1)), hi + timedelta(days=q.retention_days))
    seen = (f"SELECT DISTINCT {PERSON} AS person, {d.local_date('timestamp')} AS day FROM events "
            f"WHERE timestamp >= {d.ts_lit(lo + timedelta(days=1))} AND timestamp < {d.ts_lit(seen_end)}")
    return (
        f"WITH allconv AS ({conversions(an, q.event, None, as_of)}), "
        "fo AS (SELECT person, min(us) AS first_us, min(day) AS first_day FROM allconv GROUP BY person), "
        f"newc AS (SELECT person, first_us AS us, first_day AS day FROM fo WHERE first_us >= {lo_us} "
        f"AND first_us < {hi_us}), "
        f"tch AS ({touches(an, lo - timedelta(days=q.lookback_days), hi)}), "
        "j AS (SELECT n.person AS person, t.us AS t_us, t.channel AS channel, t.source AS source, "
        "t.campaign AS campaign FROM newc AS n INNER JOIN tch AS t ON t.person = n.person "
        f"WHERE t.us <= n.us AND t.us > n.us - {lb}), "
        f"keyed AS ({_first_elements(an, 'j', 'person')} UNION ALL SELECT person, '{DIRECT}' AS channel, "
        "'(direct)' AS source, '' AS campaign FROM newc WHERE person NOT IN (SELECT person FROM j)), "
        f"rev AS (SELECT n.person AS person, {int_sum('a.fen')} AS revenue, "
        "min(CASE WHEN a.day > n.day THEN a.day END) AS second_day FROM newc AS n INNER JOIN allconv AS a "
        "ON a.person = n.person GROUP BY n.person), "
        f"ret AS (SELECT DISTINCT n.person AS person FROM newc AS n INNER JOIN ({seen}) AS e ON e.person = n.person "
        f"WHERE {d.days_between('n.day', 'e.day')} BETWEEN 1 AND {int(q.retention_days)}) "
        "SELECT k.person AS person, k.channel AS channel, k.source AS source, k.campaign AS campaign, "
        f"n.day AS first_day, r.revenue AS revenue, {d.days_between('n.day', 'r.second_day')} AS gap, "
        "CASE WHEN k.person IN (SELECT person FROM ret) THEN 1 ELSE 0 END AS retained "
        "FROM keyed AS k INNER JOIN newc AS n ON n.person = k.person INNER JOIN rev AS r ON r.person = k.person"
    )


def _key(q: EconomicsQuery, channel: object, campaign: object) -> Key:
    return (str(channel), str(campaign or "") if q.group_by is Level.campaign else "")


def _customer_stats(an: Analytics, q: EconomicsQuery, as_of: date) -> dict[Key, list[int]]:
    """Per key: [customers, revenue, retention eligible, retained, repurchase eligible, repurchased]."""
    d = an.dialect
    age = d.days_between("first_day", d.date_lit(as_of))
    rows = an.rows(
        f"SELECT channel, campaign, count(*) AS n, {int_sum('revenue')} AS revenue, "
        f"{d.count_if(f'{age} >= {q.retention_days}')} AS ret_n, "
        f"{d.count_if(f'{age} >= {q.retention_days} AND retained = 1')} AS ret, "
        f"{d.count_if(f'{age} >= {q.repurchase_days}')} AS rep_n, "
        f"{d.count_if(f'{age} >= {q.repurchase_days} AND gap IS NOT NULL AND gap <= {q.repurchase_days}')} AS rep "
        f"FROM ({customers_sql(an, q, as_of)}) AS c GROUP BY channel, campaign")
    out: dict[Key, list[int]] = {}
    for ch, camp, *values in rows:
        acc = out.setdefault(_key(q, ch, camp), [0] * 6)
        for i, v in enumerate(values):
            acc[i] += int(v)
    return out


def _visitor_stats(an: Analytics, q: EconomicsQuery, as_of: date) -> dict[Key, list[int]]:
    """Per key of the first touch ever: [visitors, converted]."""
    lo, hi = day_start(an, q.start), day_start(an, q.end + timedelta(days=1))
    lo_us = (lo - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    events = (f"(SELECT person, us AS t_us, us, channel, source, campaign FROM ({classified(an, _EPOCH, hi)}) AS c "
              "WHERE channel IS NOT NULL)")
    first = _first_elements(an, events, "person")
    first_us = f"SELECT person, min(us) AS first_us FROM {events} AS e GROUP BY person HAVING min(us) >= {lo_us}"
    rows = an.rows(
        f"WITH ft AS (SELECT f.person AS person, f.first_us AS us, k.channel AS channel, k.campaign AS campaign "
        f"FROM ({first_us}) AS f INNER JOIN ({first}) AS k ON k.person = f.person), "
        f"conv AS (SELECT DISTINCT ft.person AS person FROM ft INNER JOIN ({conversions(an, q.event, None, as_of)}) "
        "AS a ON a.person = ft.person WHERE a.us >= ft.us) "
        "SELECT channel, campaign, count(*) AS n, "
        f"{an.dialect.count_if('person IN (SELECT person FROM conv)')} AS converted FROM ft GROUP BY channel, campaign")
    out: dict[Key, list[int]] = {}
    for ch, camp, n, conv in rows:
        acc = out.setdefault(_key(q, ch, camp), [0, 0])
        acc[0] += int(n)
        acc[1] += int(conv)
    return out


def _predicted(an: Analytics, q: EconomicsQuery, as_of: date) -> dict[Key, float]:
    """Per key: the new customers' summed expected future value (fen) from the lifetime-value model fitted
    on all orders up to ``as_of`` (discounted at the model's default rate)."""
    c = clv.customers(an, as_of, None, q.event)
    bg, gg, _ = clv.fit(c)
    _, _, value = clv.expected_value(bg.params, gg.params, c, q.ltv_horizon_days, DISCOUNT_RATE)
    by_person = dict(zip(c.person, value.tolist(), strict=True))
    rows = all_rows(an, f"SELECT person, channel, campaign FROM ({customers_sql(an, q, as_of)}) AS c")
    out: dict[Key, float] = {}
    for person, ch, camp in sorted(rows, key=lambda r: str(r[0])):
        key = _key(q, ch, camp)
        out[key] = out.get(key, 0.0) + by_person.get(str(person), 0.0)
    return out


def _rate(n: int, of: int) -> float | None:
    return round(n / of, 6) if of else None


def economics(an: Analytics, q: EconomicsQuery, spends: Sequence[SpendOut]) -> EconomicsReport:
    as_of = q.as_of or local_today(an)
    spend = prorated(spends, q)
    cust = _customer_stats(an, q, as_of)
    visitors = _visitor_stats(an, q, as_of)
    future = _predicted(an, q, as_of) if q.ltv == "predicted" and cust else {}
    rows = []
    for key in sorted(set(spend) | set(cust) | set(visitors)):
        n, revenue, ret_n, ret, rep_n, rep = cust.get(key, [0] * 6)
        vis, conv = visitors.get(key, [0, 0])
        cost = spend.get(key, 0)
        cac = round(cost / n) if n and cost else None
        ltv = round((revenue + future.get(key, 0.0)) / n) if n else None
        rows.append(EconomicsRow(
            channel=key[0], campaign=(key[1] or None) if q.group_by is Level.campaign else None, spend_fen=cost,
            visitors=vis, converted_visitors=conv, conversion_rate=_rate(conv, vis), new_customers=n, cac_fen=cac,
            retention_rate=_rate(ret, ret_n), retention_eligible=ret_n, repurchase_rate=_rate(rep, rep_n),
            repurchase_eligible=rep_n, revenue_fen=revenue, ltv_fen=ltv,
            ltv_cac=round(ltv / cac, 4) if ltv is not None and cac else None))
    rows.sort(key=lambda r: (-r.new_customers, -r.spend_fen, r.channel, r.campaign or ""))
    return EconomicsReport(start=q.start, end=q.end, as_of=as_of, group_by=q.group_by, ltv=q.ltv,
                           currency=q.currency, rows=rows)
