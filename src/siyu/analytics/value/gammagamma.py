"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves"; Colombo &
Jiang 1999): how much a customer spends per purchase, from the average ``m`` of their ``x`` repeat purchases.

Each purchase is ``z ~ Gamma(p, nu)`` around the customer's own ``nu ~ Gamma(q, gamma)``, so the mean of ``x``
purchases has (per customer)::

    ln L = lnG(p x + q) - lnG(p x) - lnG(q) + q ln(gamma) + (p x - 1) ln(m) + p x ln(x) - (p x + q) ln(gamma + m x)

Fitted on repeat buyers only (``x > 0``), by L-BFGS-B over ``log`` of (p, q, gamma) with the analytic
gradient. Amounts are scaled by their mean while fitting (better conditioned); ``gamma`` and the
log-likelihood are reported in the original unit (fen).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special

from siyu.analytics.value.bgnbd import Array, Fit, standard_errors


def _terms(p: float, q: float, gamma: float, x: Array, m: Array) -> Array:
    px = p * x
    return np.asarray(special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q) + q * np.log(gamma)
                      + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(gamma + m * x), dtype=np.float64)


def log_likelihood(params: tuple[float, float, float] | Array, x: Array, m: Array,
                   weights: Array | None = None) -> float:
    p, q, gamma = (float(v) for v in params)
    ll = _terms(p, q, gamma, x, m)
    return float(ll.sum() if weights is None else (weights * ll).sum())


def _negative(theta: Array, x: Array, m: Array, w: Array) -> tuple[float, Array]:
    p, q, gamma = np.exp(theta)
    ll = _terms(p, q, gamma, x, m)
    px = p * x
    dg = special.digamma(px + q)
    lgm = np.log(gamma + m * x)
    d_p = x * (dg - special.digamma(px) + np.log(m) + np.log(x) - lgm)
    d_q = dg - special.digamma(q) + np.log(gamma) - lgm
    d_g = q / gamma - (px + q) / (gamma + m * x)
    grad = np.array([(w * d).sum() for d in (d_p, d_q, d_g)]) * np.array([p, q, gamma])
    value = float((w * ll).sum())
    if not np.isfinite(value):
        return 1e300, np.zeros(3)
    return -value, -grad


def fit(x: Array, m: Array, weights: Array | None = None, max_iter: int = 1000) -> Fit:
    """Maximum-likelihood (p, q, gamma) from repeat buyers' (x, m)."""
    x, m = np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64)
    if len(x) == 0:
        raise ValueError("no repeat buyers to fit")
    if np.any(x <= 0) or np.any(m <= 0):
        raise ValueError("needs x > 0 and m > 0 (repeat buyers with positive spend)")
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    scale = float((w * m).sum() / w.sum())
    ms = m / scale
    theta0 = np.log(np.array([2.0, 3.0, 2.0]))
    res = optimize.minimize(_negative, theta0, args=(x, ms, w), jac=True, method="L-BFGS-B",
                            bounds=[(-15.0, 15.0)] * 3,
                            options={"maxiter": max_iter, "ftol": 1e-14, "gtol": 1e-8, "maxcor": 20})
    p, q, gamma_s = (float(v) for v in np.exp(res.x))
    _, grad = _negative(res.x, x, ms, w)
    gamma = gamma_s * scale
    return Fit(params={"p": p, "q": q, "gamma": gamma}, log_likelihood=log_likelihood((p, q, gamma), x, m, w),
               converged=bool(res.success), iterations=int(res.nit), evaluations=int(res.nfev),
               message=str(res.message), gradient_norm=float(np.linalg.norm(grad)),
               standard_errors=standard_errors(_negative, res.x + np.log([1.0, 1.0, scale]), (x, m, w),
                                               ("p", "q", "gamma")))


def expected_spend(params: dict[str, float], x: Array, m: Array, fallback: float | None = None) -> Array:
    """E[spend per purchase | x, m] = p (gamma + x m) / (p x + q - 1); for customers with no repeat purchase
    (x = 0), the population mean ``p gamma / (q - 1)``. Where the model has no finite mean (q <= 1, or
    p x + q <= 1) it gives ``m``, or ``fallback`` (say, the repeat buyers' mean spend) for x = 0."""
    p, q, gamma = params["p"], params["q"], params["gamma"]
    x = np.asarray(x, dtype=np.float64)
    m = np.where(x > 0, np.asarray(m, dtype=np.float64), 0.0)
    denom = p * x + q - 1
    ok = denom > 0
    model = p * (gamma + x * m) / np.where(ok, denom, 1.0)
    plain = np.where(x > 0, m, np.nan if fallback is None else fallback)
    return np.asarray(np.where(ok, model, plain), dtype=np.float64)
