"""BG/NBD and Gamma-Gamma: parameter recovery, the likelihood against a plain evaluation of the formula,
gradients, and the predictive formulas."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from siyu.analytics.value import bgnbd, clv, gammagamma
from tests.analytics.stores import store
from tests.analytics.value_fixtures import event, simulate_bgnbd, simulate_bgnbd_orders, simulate_spend

BG = {"r": 2.0, "alpha": 10.0, "a": 1.5, "b": 12.0}  # days: a purchase every ~5 days while alive
GG = {"p": 1.0, "q": 2.0, "gamma": 15_000.0}  # fen: mean spend p gamma / (q - 1) = 150 yuan


def bgnbd_loglik_loop(r: float, alpha: float, a: float, b: float, xs: list[float], txs: list[float],
                      Ts: list[float]) -> float:
    """FHL 2005 eq. 6, customer by customer, with math.lgamma and no shared code. The two terms of the
    likelihood are taken to logs (their powers overflow a float for customers with many purchases) and
    added back with the larger factored out."""
    total = 0.0
    for x, tx, T in zip(xs, txs, Ts, strict=True):
        log_beta_ratio = (math.lgamma(b + x) - math.lgamma(a + b + x)) - (math.lgamma(b) - math.lgamma(a + b))
        log_gamma_part = math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha)
        first = -(r + x) * math.log(alpha + T)
        if x > 0:
            second = math.log(a / (b + x - 1)) - (r + x) * math.log(alpha + tx)
            top = max(first, second)
            both = top + math.log(math.exp(first - top) + math.exp(second - top))
        else:
            both = first
        total += log_beta_ratio + log_gamma_part + both
    return total


def gg_loglik_loop(p: float, q: float, g: float, xs: list[float], ms: list[float]) -> float:
    total = 0.0
    for x, m in zip(xs, ms, strict=True):
        total += (math.lgamma(p * x + q) - math.lgamma(p * x) - math.lgamma(q) + q * math.log(g)
                  + (p * x - 1) * math.log(m) + p * x * math.log(x) - (p * x + q) * math.log(g + m * x))
    return total


SEEDS = range(8)  # not chosen: every seed of this set-up is expected to pass (see the test's docstring)


def test_parameter_recovery_over_seeds() -> None:
    """10,000 customers from known parameters, for each of 8 seeds (0-7, taken in order, not picked).

    The tolerance is the estimator's own sampling error at this size, its asymptotic standard error from the
    observed information (about 1.5-5% of each parameter: r 1.6%, alpha 2%, a 2.8%, b 4.1%, p 3.5%, q 1.7%,
    gamma 4.8%). Three checks, each with a false-alarm rate well under 1% for a correct estimator:

    - every estimate is within 4 of its standard errors of the truth (56 estimates; P(|z| > 4) = 6e-5 each);
    - no parameter is biased: the mean of its 8 z-scores is within 4 / sqrt(8) of 0;
    - the standard errors are honest: the spread of the 8 estimates over seeds, over the mean standard error,
      lies between 0.29 and 1.93 (the 0.05% and 99.95% points of sqrt(chi2_7 / 7)).

    Measured over seeds 0-11: z-scores between -2.75 and 1.99. (A fixed 5% band, as before, passed only 6
    seeds in 12: b and gamma's standard errors are close to 5%.)"""
    z: dict[str, list[float]] = {k: [] for k in (*BG, *GG)}
    est: dict[str, list[float]] = {k: [] for k in z}
    se: dict[str, list[float]] = {k: [] for k in z}
    for seed in SEEDS:
        x, t_x, T = simulate_bgnbd(10_000, BG["r"], BG["alpha"], BG["a"], BG["b"], (360.0, 720.0), seed)
        m = simulate_spend(x, GG["p"], GG["q"], GG["gamma"], seed + 1000)
        bg = bgnbd.fit(x, t_x, T)
        rep = x > 0
        gg = gammagamma.fit(x[rep], m[rep])
        # L-BFGS-B may end in an "abnormal" line search at the optimum itself (seed 3's Gamma-Gamma: gradient
        # norm 5e-5 over log-parameters, ftol 1e-14 being past what the floats resolve): at the optimum either way
        for fit in (bg, gg):
            assert fit.converged or fit.gradient_norm < 1e-3, (seed, fit.message, fit.gradient_norm)
        for fit, truth in ((bg, BG), (gg, GG)):
            for k, v in truth.items():
                est[k].append(fit.params[k])
                se[k].append(fit.standard_errors[k])
                z[k].append((fit.params[k] - v) / fit.standard_errors[k])
        if seed == SEEDS[0]:
            # the fitted log-likelihood is the formula's value at the fitted parameters
            loop = bgnbd_loglik_loop(*bg.params.values(), x.tolist(), t_x.tolist(), T.tolist())
            assert bg.log_likelihood == pytest.approx(loop, rel=1e-10)
            loop_gg = gg_loglik_loop(*gg.params.values(), x[rep].tolist(), m[rep].tolist())
            assert gg.log_likelihood == pytest.approx(loop_gg, rel=1e-10)
            # and it is a maximum: the truth scores lower
            assert bg.log_likelihood > bgnbd.log_likelihood(tuple(BG.values()), x, t_x, T)  # type: ignore[arg-type]
    print("\nz-scores by seed", {k: [round(v, 2) for v in vs] for k, vs in z.items()})
    print("estimates by seed", {k: [round(v, 3) for v in vs] for k, vs in est.items()})
    truth = {**BG, **GG}
    for k in z:
        # the "within 5% of the truth", for the estimate averaged over the 8 simulations (its standard
        # error is at most 4.8% / sqrt(8) = 1.7%: 5% is ~3 of them); one simulation's own error is up to ~5%
        assert abs(float(np.mean(est[k])) / truth[k] - 1) < 0.05, (k, est[k])
        assert max(abs(v) for v in z[k]) < 4, (k, z[k])
        assert abs(float(np.mean(z[k]))) < 4 / math.sqrt(len(SEEDS)), (k, z[k])
        spread = float(np.std(est[k], ddof=1)) / float(np.mean(se[k]))
        assert 0.29 < spread < 1.93, (k, spread, est[k], se[k])


def test_analytic_gradients_match_finite_differences() -> None:
    x, t_x, T = simulate_bgnbd(300, 0.8, 8.0, 1.2, 4.0, (100.0, 300.0), 3)
    m = simulate_spend(x, 3.0, 4.0, 20.0, 4)
    rep = x > 0
    for negative, theta, args in (
        (bgnbd._negative, np.log([0.7, 9.0, 1.1, 3.5]), (x, t_x, T, np.ones_like(x))),
        (gammagamma._negative, np.log([2.5, 3.0, 15.0]), (x[rep], m[rep], np.ones(int(rep.sum())))),
    ):
        _, grad = negative(theta, *args)
        for i in range(len(theta)):
            e = np.zeros(len(theta))
            e[i] = 1e-6
            numeric = (negative(theta + e, *args)[0] - negative(theta - e, *args)[0]) / 2e-6
            assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=1e-5)


def test_predictions_by_hand() -> None:
    params = {"r": 0.5, "alpha": 10.0, "a": 2.0, "b": 3.0}
    x, t_x, T = np.array([0.0, 2.0]), np.array([0.0, 10.0]), np.array([20.0, 30.0])
    alive = bgnbd.probability_alive(params, x, t_x, T)
    # x = 0: alive by definition; x = 2: 1 / (1 + a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))
    assert alive[0] == 1.0
    assert alive[1] == pytest.approx(1 / (1 + 2 / 4 * (40 / 20) ** 2.5), rel=1e-12)
    # the closed form (a > 1) and the quadrature from the definition agree
    closed = bgnbd.expected_purchases(params, 90.0, x, t_x, T)
    quad = bgnbd.expected_purchases_quadrature(params, 90.0, x, t_x, T)
    assert closed == pytest.approx(quad, rel=1e-9)
    # a new customer's expected repeat purchases: E[X(t)] from eq. 9 equals eq. 10 at x = t_x = T = 0
    new = bgnbd.expected_purchases(params, 90.0, np.zeros(1), np.zeros(1), np.zeros(1))
    assert new[0] == pytest.approx(float(bgnbd.expected_purchases_new(params, 90.0)), rel=1e-12)
    spend = gammagamma.expected_spend({"p": 6.0, "q": 4.0, "gamma": 15.0}, np.array([0.0, 2.0]),
                                      np.array([0.0, 30.0]))
    assert spend.tolist() == pytest.approx([6 * 15 / 3, 6 * (15 + 60) / (12 + 3)])


# -- the event-store pipeline: order timestamps -> (x, t_x, T) -----------------------------------------------
UNTIL = date(2026, 3, 31)
CUT = datetime(2026, 4, 1, tzinfo=UTC) - timedelta(hours=8)  # the end of UNTIL, brand-local (UTC+8)


def day_rule(times: list[list[float]], T: Any) -> tuple[Any, Any, Any]:
    """The calibration summary by its definition (``clv`` module docstring), from the true purchase times:
    a customer's first purchase is ``T`` days before the cut-off (a local midnight), so purchase ``t`` falls on
    local day ``floor(t - T)`` counted from UNTIL + 1; x = distinct days - 1, t_x and T in whole days."""
    xs, txs, Ts = [], [], []
    for ts, t_end in zip(times, T, strict=True):
        days = sorted({math.floor(t - t_end) for t in (0.0, *ts)})
        xs.append(len(days) - 1)
        txs.append(days[-1] - days[0])
        Ts.append(-1 - days[0])
    return (np.array(xs, dtype=np.float64), np.array(txs, dtype=np.float64), np.array(Ts, dtype=np.float64))


def test_event_store_summary_is_the_day_rule_of_the_true_purchase_times(engine_kind: str, tmp_path: Path) -> None:
    """Simulated order timestamps through the event store and ``clv.customers``, on each engine, against the true
    (x, t_x, T): exactly the whole-day rule, so no off-by-one in T or t_x, first purchase not in x, the cut-off
    exclusive at the end of UNTIL, days brand-local (not UTC). Against the continuous truth: T is short by the
    first day's elapsed fraction (in (-1, 0]), t_x off by less than a day, and x loses exactly the repeat
    purchases made on a day that already had one."""
    times, T = simulate_bgnbd_orders(600, 2.0, 60.0, 1.5, 12.0, (360.0, 720.0), 11)
    records = [event(f"c{i:04d}", CUT - timedelta(days=float(t_end - t)), fen=100)
               for i, (ts, t_end) in enumerate(zip(times, T, strict=True)) for t in (0.0, *ts)]
    # edges: an order at the cut-off instant is outside; one a microsecond before, and one at a local midnight
    # (16:00 UTC, the previous UTC day), are inside
    records += [event("edge", CUT - timedelta(days=10)), event("edge", CUT - timedelta(days=3)),
                event("edge", CUT - timedelta(microseconds=1)), event("edge", CUT)]
    with store(engine_kind, tmp_path, records) as an:
        c = clv.customers(an, UNTIL)
    assert c.person[-1] == "edge"
    assert (c.x[-1], c.t_x[-1], c.T[-1]) == (2, 9, 9)
    x_day, tx_day, T_day = day_rule(times, T)
    assert c.x[:-1].tolist() == x_day.tolist()
    assert c.t_x[:-1].tolist() == tx_day.tolist()
    assert c.T[:-1].tolist() == T_day.tolist()
    x = np.array([len(ts) for ts in times], dtype=np.float64)
    t_x = np.array([ts[-1] if ts else 0.0 for ts in times])
    assert np.all((c.T[:-1] - T > -1) & (c.T[:-1] - T <= 0))
    assert np.all(np.abs(c.t_x[:-1] - t_x) < 1)
    same_day = [sum(1 for t in ts if math.floor(t - t_end) in
                    {math.floor(u - t_end) for u in (0.0, *ts) if u < t}) for ts, t_end in zip(times, T, strict=True)]
    assert (x - c.x[:-1]).tolist() == same_day


@pytest.mark.parametrize("alpha", [10.0, 60.0])
def test_whole_days_do_not_bias_the_fit_but_merging_a_days_orders_does(alpha: float) -> None:
    """Why the fit on the event store's summaries differs from the fit on the simulated (continuous) ones.

    The pipeline is the day rule (previous test), so the day rule is applied here in Python to 10,000 customers.
    Whole-day t_x and T, with repeat purchases kept, move no parameter by more than 0.5 of its standard
    error (measured: at most 0.13). Merging a day's orders into one purchase (the documented rule: split orders
    and same-day top-ups are one purchase) makes the model count purchase days, a thinner process than the
    simulated one: the fastest buyers lose most, so alpha goes up. With a purchase every ~5 days (alpha = 10,
    the recovery test's set-up) ~10% of purchases share a day and alpha rises ~11 standard errors (~+20%;
    the +11.5% reported before was this); with one every ~30 days (alpha = 60) ~2% share a day and alpha rises
    ~2.5 standard errors (~+6%). Not a bug: the estimate is right for purchase days, which is what the module
    predicts. The check: the day rule's fit equals the fit on merged purchases at their exact times (within
    0.5 SE), i.e. merging is the whole effect."""
    times, T = simulate_bgnbd_orders(10_000, 2.0, alpha, 1.5, 12.0, (360.0, 720.0), 0)
    x = np.array([len(ts) for ts in times], dtype=np.float64)
    t_x = np.array([ts[-1] if ts else 0.0 for ts in times])
    x_day, tx_day, T_day = day_rule(times, T)
    xm, txm = [], []
    for ts, t_end in zip(times, T, strict=True):
        seen, kept = {math.floor(-t_end)}, []
        for t in ts:
            if math.floor(t - t_end) not in seen:
                seen.add(math.floor(t - t_end))
                kept.append(t)
        xm.append(len(kept))
        txm.append(kept[-1] if kept else 0.0)
    true = bgnbd.fit(x, t_x, T)
    whole_days = bgnbd.fit(x, np.where(x > 0, tx_day, 0.0), T_day)
    merged = bgnbd.fit(np.array(xm, dtype=np.float64), np.array(txm), T)
    day = bgnbd.fit(x_day, tx_day, T_day)
    se = true.standard_errors
    for k in BG:
        assert abs(whole_days.params[k] - true.params[k]) < 0.5 * se[k], k
        assert abs(day.params[k] - merged.params[k]) < 0.5 * se[k], k
    shift = (day.params["alpha"] - true.params["alpha"]) / se["alpha"]
    assert (8 < shift < 14) if alpha == 10.0 else (1 < shift < 4.5), shift
