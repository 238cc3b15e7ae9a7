"""Small hand-made event histories for the value analyses (written to either event store with
:mod:`tests.analytics.stores`; times are brand-local (UTC+8) days and hours), and customers drawn from known
BG/NBD and Gamma-Gamma parameters."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from siyu.warehouse.record import EventRecord
from tests.analytics.stores import record


def at(day: date, hour: float = 12.0) -> datetime:
    """The UTC instant of ``hour`` o'clock on the brand-local ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour - 8)


def event(person: str, when: datetime, name: str | None = "Order Completed", *, fen: int | None = None,
          channel: str = "web", msg_type: str = "track", utm: tuple[str | None, str | None, str | None] | None = None,
          scene: str | None = None, referrer: str | None = None, page_url: str | None = None,
          properties: dict[str, Any] | None = None) -> EventRecord:
    """An event (by default an order of ``fen``, its ``total_fen``)."""
    props = dict(properties or {})
    if fen is not None:
        props["total_fen"] = fen
    return record(person, when, name, channel=channel, msg_type=msg_type, properties=props, utm=utm, scene=scene,
                  referrer=referrer, page_url=page_url)


def order(person: str, day: date, fen: int, hour: float = 12.0, channel: str = "web") -> EventRecord:
    return event(person, at(day, hour), fen=fen, channel=channel)


# -- customers drawn from known BG/NBD and Gamma-Gamma parameters (numpy, seeded) -----------------------------
def simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, t_range: tuple[float, float],
                   seed: int) -> tuple[Any, Any, Any]:
    """(x, t_x, T) of ``n`` customers: rate ``lambda ~ Gamma(r, alpha)``, drop-out ``p ~ Beta(a, b)`` after
    each repeat purchase, observed for ``T ~ Uniform(t_range)`` after their first purchase."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.uniform(t_range[0], t_range[1], n)
    x, t_x, t = np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        nxt = t[idx] + rng.exponential(1.0 / lam[idx])
        buy = nxt < T[idx]
        bought = idx[buy]
        x[bought] += 1
        t_x[bought] = t[bought] = nxt[buy]
        active[idx[~buy]] = False
        active[bought[rng.random(len(bought)) < p[bought]]] = False
    return x, t_x, T


def simulate_spend(x: Any, p: float, q: float, gamma: float, seed: int) -> Any:
    """Average spend of each customer's x repeat purchases: ``nu ~ Gamma(q, gamma)``, each purchase
    ``Gamma(p, nu)``, so the mean of x of them is ``Gamma(p x, nu x)`` (0 where x = 0)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    nu = rng.gamma(q, 1.0 / gamma, len(x))
    m = np.zeros(len(x))
    rep = x > 0
    m[rep] = rng.gamma(p * x[rep], 1.0 / (nu[rep] * x[rep]))
    return m


def simulate_bgnbd_orders(n: int, r: float, alpha: float, a: float, b: float, t_range: tuple[float, float],
                          seed: int) -> tuple[list[list[float]], Any]:
    """The same population as :func:`simulate_bgnbd`, customer by customer with every purchase's time: (for each
    customer, the times of their repeat purchases in days after the first purchase; ``T``)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.uniform(t_range[0], t_range[1], n)
    times: list[list[float]] = []
    for i in range(n):
        t, mine = 0.0, []
        while True:
            t += float(rng.exponential(1.0 / lam[i]))
            if t >= T[i]:
                break
            mine.append(t)
            if rng.random() < p[i]:
                break
        times.append(mine)
    return times, T
