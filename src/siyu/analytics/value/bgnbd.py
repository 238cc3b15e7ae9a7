"""BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): how many purchases a customer
will make, and whether they are still "alive", from their (frequency, recency, T).

- ``x``: repeat purchases in the calibration period (purchase days after the first one);
- ``t_x``: time of the last purchase, from the first one; ``T``: time from the first purchase to the end of
  the calibration period (any unit, here days).

While alive a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``; after each purchase
they drop out with probability ``p ~ Beta(a, b)``. Per customer (FHL 2005, eq. 6, taken to logs)::

    ln L = lnG(r+x) - lnG(r) + r ln(alpha) + lnB(a, b+x) - lnB(a, b)
           + ln[ (alpha+T)^-(r+x) + [x>0] a/(b+x-1) (alpha+t_x)^-(r+x) ]

The last term is summed in log space (``logaddexp``), so no power under- or overflows. The fit maximises the
summed log-likelihood over ``log`` of the four parameters (they stay positive) with L-BFGS-B and the
analytic gradient (digamma), all vectorised with numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Fit:
    params: dict[str, float]
    log_likelihood: float
    converged: bool
    iterations: int
    evaluations: int
    message: str
    gradient_norm: float
    standard_errors: dict[str, float]  # from the observed information (inverse Hessian), in each parameter's unit


def standard_errors(negative: Callable[..., tuple[float, Array]], theta: Array, args: tuple[object, ...],
                    names: tuple[str, ...], h: float = 1e-5) -> dict[str, float]:
    """Asymptotic standard errors of the fitted parameters: the Hessian of the negative log-likelihood over
    log-parameters by central differences of its analytic gradient, inverted, mapped back by the delta
    method (SE(p) = p SE(log p)). NaN where the Hessian is singular."""
    k = len(theta)
    hess = np.zeros((k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = h
        hess[:, j] = (negative(theta + e, *args)[1] - negative(theta - e, *args)[1]) / (2 * h)
    hess = (hess + hess.T) / 2
    try:
        cov = np.linalg.inv(hess)
        var = np.diag(cov)
    except np.linalg.LinAlgError:
        var = np.full(k, np.nan)
    se = np.exp(theta) * np.sqrt(np.where(var > 0, var, np.nan))
    return {n: float(v) for n, v in zip(names, se, strict=True)}


def _check(x: Array, t_x: Array, T: Array) -> None:
    if len(x) == 0:
        raise ValueError("no customers to fit")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > T) or np.any(T < 0) or np.any((x == 0) & (t_x != 0)):
        raise ValueError("needs 0 <= t_x <= T and t_x = 0 when x = 0")


def _terms(params: Array, x: Array, t_x: Array, T: Array) -> tuple[Array, Array, Array, Array]:
    """(the per-customer log-likelihood, A3, A4, lse) for the gradient."""
    r, alpha, a, b = params
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(repeat, np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
                      -np.inf)
    lse = np.logaddexp(a3, a4)
    return a1 + a2 + lse, a3, a4, lse


def log_likelihood(params: tuple[float, float, float, float] | Array, x: Array, t_x: Array, T: Array,
                   weights: Array | None = None) -> float:
    """The summed log-likelihood at ``(r, alpha, a, b)``."""
    ll = _terms(np.asarray(params, dtype=np.float64), x, t_x, T)[0]
    return float(ll.sum() if weights is None else (weights * ll).sum())


def _negative(theta: Array, x: Array, t_x: Array, T: Array, w: Array) -> tuple[float, Array]:
    params = np.exp(theta)
    r, alpha, a, b = params
    ll, a3, a4, lse = _terms(params, x, t_x, T)
    w3 = np.exp(a3 - lse)
    w4 = np.exp(a4 - lse)  # 0 where x = 0
    repeat = x > 0
    bx1 = np.where(repeat, b + x - 1, 1.0)
    d_r = special.digamma(r + x) - special.digamma(r) + np.log(alpha) - w3 * np.log(alpha + T) \
        - w4 * np.log(alpha + t_x)
    d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x))
    dg_ab = special.digamma(a + b) - special.digamma(a + b + x)
    d_a = dg_ab + w4 / a
    d_b = dg_ab + special.digamma(b + x) - special.digamma(b) - w4 / bx1
    grad = np.array([(w * d).sum() for d in (d_r, d_alpha, d_a, d_b)]) * params
    value = float((w * ll).sum())
    if not np.isfinite(value):
        return 1e300, np.zeros(4)
    return -value, -grad


def fit(x: Array, t_x: Array, T: Array, weights: Array | None = None,
        start: tuple[float, float, float, float] | None = None, max_iter: int = 1000) -> Fit:
    """Maximum-likelihood (r, alpha, a, b)."""
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    _check(x, t_x, T)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    if start is None:
        # A rough start: alpha from the mean purchase rate, p's mean a/(a+b) near the share of one-off buyers.
        rate = max(float((w * x).sum() / max((w * T).sum(), 1e-9)), 1e-6)
        start = (1.0, 1.0 / rate, 1.0, 3.0)
    theta0 = np.log(np.asarray(start, dtype=np.float64))
    res = optimize.minimize(_negative, theta0, args=(x, t_x, T, w), jac=True, method="L-BFGS-B",
                            bounds=[(-15.0, 15.0)] * 4,
                            options={"maxiter": max_iter, "ftol": 1e-14, "gtol": 1e-8, "maxcor": 20})
    params = np.exp(res.x)
    _, grad = _negative(res.x, x, t_x, T, w)
    return Fit(params=dict(zip(("r", "alpha", "a", "b"), (float(v) for v in params), strict=True)),
               log_likelihood=log_likelihood(params, x, t_x, T, w), converged=bool(res.success),
               iterations=int(res.nit), evaluations=int(res.nfev), message=str(res.message),
               gradient_norm=float(np.linalg.norm(grad)),
               standard_errors=standard_errors(_negative, res.x, (x, t_x, T, w), ("r", "alpha", "a", "b")))


def _ratio(params: dict[str, float], x: Array, t_x: Array, T: Array) -> Array:
    """``[x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)``: the odds of having dropped out."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    repeat = x > 0
    with np.errstate(over="ignore"):
        odds = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + t_x))) * a / np.where(repeat, b + x - 1, 1.0)
    return np.where(repeat, odds, 0.0)


def probability_alive(params: dict[str, float], x: Array, t_x: Array, T: Array) -> Array:
    """P(alive | x, t_x, T) (FHL 2005, eq. 11); 1 for customers with no repeat purchase yet."""
    return 1.0 / (1.0 + _ratio(params, x, t_x, T))


def expected_purchases(params: dict[str, float], t: float, x: Array, t_x: Array, T: Array) -> Array:
    """E[purchases in (T, T+t] | x, t_x, T]: FHL 2005 eq. 10 (with the Gaussian hypergeometric 2F1) when
    a > 1, which that closed form needs; otherwise :func:`expected_purchases_quadrature`."""
    if params["a"] <= 1.0:
        return expected_purchases_quadrature(params, t, x, t_x, T)
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    if t <= 0:
        return np.zeros_like(x)
    z = t / (alpha + T + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    head = (a + b + x - 1) / (a - 1)
    power = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
    return np.asarray(head * (1.0 - power * hyp) / (1.0 + _ratio(params, x, t_x, T)), dtype=np.float64)


def expected_purchases_quadrature(params: dict[str, float], t: float, x: Array, t_x: Array, T: Array,
                                  nodes: int = 48) -> Array:
    """The same expectation for any a > 0, by its definition: alive (probability
    :func:`probability_alive`), a customer's rate and drop-out are ``lambda ~ Gamma(r+x, alpha+T)`` and
    ``p ~ Beta(a, b+x)``, and E[purchases in t | lambda, p] = (1 - exp(-lambda p t)) / p, whose mean over
    lambda is ``(1 - ((alpha+T) / (alpha+T+p t))^(r+x)) / p``. The mean over p is a Gauss-Jacobi
    quadrature (weight ``p^(a-1) (1-p)^(b+x-1)``), one set of nodes per distinct x."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    out = np.zeros_like(x)
    if t <= 0:
        return out
    for k in np.unique(x):
        sel = x == k
        u, w = special.roots_jacobi(nodes, b + k - 1.0, a - 1.0)
        p = (1.0 + u) / 2.0
        base = (alpha + T[sel])[:, None]
        f = (1.0 - np.exp((r + k) * (np.log(base) - np.log(base + p[None, :] * t)))) / p[None, :]
        out[sel] = (f * w[None, :]).sum(axis=1) / w.sum()
    return np.asarray(out * probability_alive(params, x, t_x, T), dtype=np.float64)


def expected_purchases_new(params: dict[str, float], t: float | Array) -> Array:
    """E[X(t)] for a customer just acquired (FHL 2005, eq. 9): the model's repeat rate over ``t``."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    t = np.asarray(t, dtype=np.float64)
    hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
    return np.asarray((a + b - 1) / (a - 1) * (1.0 - (alpha / (alpha + t)) ** r * hyp), dtype=np.float64)
