"""Small hand-made event histories for the value analyses, written to either event store.

Times are given as brand-local (UTC+8) days and hours; every event's person is its user id (identity links
written alongside), so ``person_id`` in results is the name used here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

from siyu.analytics.engine import Analytics
from siyu.warehouse.base import Warehouse
from siyu.warehouse.clickhouse import ClickHouseWarehouse
from siyu.warehouse.duckdb import DuckDBWarehouse
from siyu.warehouse.record import EventRecord, decode_rows, encode_records

KINDS = ["duckdb", "clickhouse"]
_ids = count(1)


def at(day: date, hour: float = 12.0) -> datetime:
    """The UTC instant of ``hour`` o'clock on the brand-local ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour - 8)


def _us(dt: datetime) -> int:
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def event(person: str, when: datetime, name: str | None = "Order Completed", *, fen: int | None = None,
          channel: str = "web", msg_type: str = "track", utm: tuple[str | None, str | None, str | None] | None = None,
          scene: str | None = None, referrer: str | None = None, page_url: str | None = None,
          properties: dict[str, Any] | None = None) -> EventRecord:
    props = dict(properties or {})
    if fen is not None:
        props["total_fen"] = fen
    src, medium, campaign = utm or (None, None, None)
    n = next(_ids)
    return EventRecord(
        message_id=f"m{n:08d}", source_id=f"src-{channel}", channel=channel, type=msg_type, event=name,
        anonymous_id=f"anon-{person}", user_id=person, group_id=None, previous_id=None, timestamp_us=_us(when),
        original_timestamp_us=None, sent_at_us=None, received_at_us=_us(when),
        properties=json.dumps(props).encode(), traits=b"{}", context=b"{}", utm_source=src, utm_medium=medium,
        utm_campaign=campaign, utm_term=None, utm_content=None, scene=scene, page_url=page_url, referrer=referrer,
        ip=None)


def order(person: str, day: date, fen: int, hour: float = 12.0, channel: str = "web") -> EventRecord:
    return event(person, at(day, hour), fen=fen, channel=channel)


def load(wh: Warehouse, records: Sequence[EventRecord]) -> None:
    wh.write_rows(decode_rows(encode_records(list(records))))
    people = sorted({r.user_id for r in records if r.user_id})
    wh.write_links([("user_id", p, p, i + 1) for i, p in enumerate(people)])


def open_warehouse(kind: str, tmp_path: Path) -> Warehouse:
    wh: Warehouse
    if kind == "duckdb":
        wh = DuckDBWarehouse(tmp_path / "value.duckdb")
    else:
        wh = ClickHouseWarehouse(f"chdb://{tmp_path / 'value-chdb'}")
    wh.migrate()
    return wh


@contextmanager
def analytics_on(kind: str, tmp_path: Path, records: Sequence[EventRecord]) -> Iterator[Analytics]:
    """An :class:`Analytics` on a new event store of ``kind`` holding ``records`` (closed afterwards: chdb
    allows one session per process)."""
    wh = open_warehouse(kind, tmp_path / kind)
    try:
        load(wh, records)
        yield Analytics.of(wh)
    finally:
        wh.close()


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
