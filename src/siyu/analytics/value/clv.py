"""Customer lifetime value: BG/NBD for future purchases and P(alive), Gamma-Gamma for spend per purchase,
fitted by maximum likelihood on the order history up to a day (the calibration period).

Per customer, from their orders on brand-local days up to ``until`` (several orders on one day are one
purchase, as in the BG/NBD literature, with the day's amounts added up):

- ``frequency`` x: purchase days after the first; ``recency`` t_x: days from the first to the last purchase
  day; ``T``: days from the first purchase day to ``until``;
- ``average spend`` m: the mean of the repeat purchase days' amounts (the first purchase is left out, as
  Fader, Hardie & Lee do; 0 without repeats).

Whole days do not bias the fit (t_x and T are both counted from the first purchase day); merging a day's orders
does, on purpose: the model counts purchase days, a thinner process than orders for customers who often buy
twice a day, so against a continuous-time simulation alpha comes out higher (about +6% with a purchase every
~30 days, +20% with one every ~5 days; ``tests/analytics/test_value_clv_model.py`` measures it).

The value of a customer is the sum, over 30-day steps up to the horizon, of the step's expected purchases
times their expected spend per purchase, discounted at the yearly rate to the end of each step. Orders after
``until``, if any, are a holdout: predicted and actual purchase days there are compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from siyu.analytics.engine import Analytics, local_today
from siyu.analytics.value import bgnbd, gammagamma
from siyu.analytics.value.bgnbd import Array
from siyu.analytics.value.errors import FitFailed, NotEnoughData
from siyu.analytics.value.schemas import (
    BgNbdParams,
    ClvMember,
    ClvQuery,
    ClvReport,
    GammaGammaParams,
    Holdout,
    HoldoutRow,
)
from siyu.analytics.value.sql import all_rows, conversions, int_sum

STEP_DAYS = 30


@dataclass(frozen=True)
class Customers:
    """The calibration summary, one entry per customer, sorted by person id."""

    person: list[str]
    x: Array
    t_x: Array
    T: Array
    m: Array  # fen

    def __len__(self) -> int:
        return len(self.person)


def customers(an: Analytics, until: date, since: date | None = None, event: str = "Order Completed") -> Customers:
    d = an.dialect
    days = (f"SELECT person, day, {int_sum('fen')} AS fen FROM ({conversions(an, event, since, until)}) AS o "
            "GROUP BY person, day")
    rows = all_rows(an,
        f"SELECT person, count(*) - 1 AS x, {d.days_between('min(day)', 'max(day)')} AS t_x, "
        f"{d.days_between('min(day)', d.date_lit(until))} AS age, {int_sum('fen')} AS total, "
        f"{d.arg_min('fen', 'day')} AS first_fen FROM ({days}) AS d GROUP BY person")
    rows.sort(key=lambda r: str(r[0]))
    x = np.array([int(r[1]) for r in rows], dtype=np.float64)
    repeat_fen = np.array([int(r[4]) - int(r[5]) for r in rows], dtype=np.float64)
    m = np.divide(repeat_fen, x, out=np.zeros_like(x), where=x > 0)
    return Customers(person=[str(r[0]) for r in rows], x=x, t_x=np.array([int(r[2]) for r in rows], dtype=np.float64),
                     T=np.array([int(r[3]) for r in rows], dtype=np.float64), m=m)


def fit(c: Customers) -> tuple[bgnbd.Fit, bgnbd.Fit, int]:
    """(BG/NBD fit, Gamma-Gamma fit, repeat buyers it was fitted on)."""
    repeat = (c.x > 0) & (c.m > 0)
    if len(c) < 2 or int(repeat.sum()) < 2:
        raise NotEnoughData(details={"customers": len(c), "repeat_customers": int((c.x > 0).sum()),
                                     "needs": "at least 2 customers with a repeat purchase"})
    try:
        bg = bgnbd.fit(c.x, c.t_x, c.T)
        gg = gammagamma.fit(c.x[repeat], c.m[repeat])
    except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
        raise FitFailed(details={"reason": str(exc)}) from exc
    return bg, gg, int(repeat.sum())


def expected_value(bg: dict[str, float], gg: dict[str, float], c: Customers, horizon_days: int,
                   discount_rate: float) -> tuple[Array, Array, Array]:
    """(expected purchases over the horizon, expected spend per purchase, discounted expected value), fen."""
    repeat = (c.x > 0) & (c.m > 0)
    spend = gammagamma.expected_spend(gg, c.x, c.m, float(c.m[repeat].mean()) if repeat.any() else 0.0)
    ends = [*range(STEP_DAYS, horizon_days, STEP_DAYS), horizon_days]
    value = np.zeros(len(c))
    before = np.zeros(len(c))
    for end in ends:
        cum = bgnbd.expected_purchases(bg, float(end), c.x, c.t_x, c.T)
        value += (cum - before) * spend / (1.0 + discount_rate) ** (end / 365.0)
        before = cum
    return before, spend, value


def _holdout(an: Analytics, q: ClvQuery, until: date, c: Customers, bg: dict[str, float]) -> Holdout | None:
    later = conversions(an, q.event, until + timedelta(days=1), None)
    days = f"SELECT person, day FROM ({later}) AS o GROUP BY person, day"
    rows = all_rows(an, f"SELECT person, count(*) AS n, max(day) AS last FROM ({days}) AS d GROUP BY person")
    if not rows:
        return None
    end = max(date.fromisoformat(str(r[2])) for r in rows)
    span = (end - until).days
    got = {str(r[0]): int(r[1]) for r in rows}
    actual = np.array([got.get(p, 0) for p in c.person], dtype=np.float64)
    predicted = bgnbd.expected_purchases(bg, float(span), c.x, c.t_x, c.T)
    by_freq = []
    for k in range(8):
        sel = c.x == k if k < 7 else c.x >= 7
        if sel.any():
            by_freq.append(HoldoutRow(frequency=str(k) if k < 7 else "7+", customers=int(sel.sum()),
                                      actual_avg=round(float(actual[sel].mean()), 6),
                                      predicted_avg=round(float(predicted[sel].mean()), 6)))
    return Holdout(start=until + timedelta(days=1), end=end, days=span, actual=int(actual.sum()),
                   predicted=round(float(predicted.sum()), 4), by_frequency=by_freq,
                   mean_absolute_error=round(float(np.abs(actual - predicted).mean()), 6))


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (v if np.isfinite(v) else None) for k, v in values.items()}


def _corr(c: Customers) -> float:
    rep = (c.x > 0) & (c.m > 0)
    if rep.sum() < 3 or np.std(c.x[rep]) == 0 or np.std(c.m[rep]) == 0:
        return 0.0
    return round(float(np.corrcoef(c.x[rep], c.m[rep])[0, 1]), 6)


def clv(an: Analytics, q: ClvQuery) -> ClvReport:
    until = q.until or local_today(an)
    c = customers(an, until, q.since, q.event)
    bg, gg, repeat = fit(c)
    purchases, spend, value = expected_value(bg.params, gg.params, c, q.horizon_days, q.discount_rate)
    if not (np.all(np.isfinite(value)) and np.all(np.isfinite(purchases))):
        raise FitFailed("The fitted model gives no finite expectation (BG/NBD needs a > 1).",
                        details={"a": bg.params["a"], "q": gg.params["q"]})
    alive = bgnbd.probability_alive(bg.params, c.x, c.t_x, c.T)
    order = sorted(range(len(c)), key=lambda i: (-round(float(value[i]), 6), c.person[i]))[: q.members]
    members = [ClvMember(person_id=c.person[i], frequency=int(c.x[i]), recency_days=int(c.t_x[i]),
                         age_days=int(c.T[i]), average_spend_fen=round(float(c.m[i])),
                         probability_alive=round(float(alive[i]), 6),
                         expected_purchases=round(float(purchases[i]), 6),
                         expected_spend_fen=round(float(spend[i])), expected_value_fen=round(float(value[i])))
               for i in order]
    return ClvReport(
        until=until, horizon_days=q.horizon_days, discount_rate=q.discount_rate, customers=len(c),
        repeat_customers=int((c.x > 0).sum()),
        bgnbd=BgNbdParams(**bg.params, log_likelihood=bg.log_likelihood, converged=bg.converged,
                          iterations=bg.iterations, gradient_norm=bg.gradient_norm,
                          standard_errors=_finite(bg.standard_errors)),
        gamma_gamma=GammaGammaParams(**gg.params, log_likelihood=gg.log_likelihood, converged=gg.converged,
                                     iterations=gg.iterations, gradient_norm=gg.gradient_norm, customers=repeat,
                                     standard_errors=_finite(gg.standard_errors),
                                     frequency_spend_correlation=_corr(c)),
        expected_purchases=round(float(purchases.sum()), 4), expected_value_fen=round(float(value.sum())),
        holdout=_holdout(an, q, until, c, bg.params), members=members)
