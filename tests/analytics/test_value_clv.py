"""Lifetime value on the event store: the calibration summary by hand, the report on both engines."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from siyu.analytics.value import bgnbd, clv, gammagamma
from siyu.analytics.value.errors import NotEnoughData
from siyu.analytics.value.schemas import ClvQuery
from tests.analytics.stores import KINDS, store
from tests.analytics.value_fixtures import at, event, order

D = date
UNTIL = D(2026, 3, 31)


def history() -> list:  # type: ignore[type-arg]
    return [
        order("P1", D(2026, 3, 1), 1000), order("P1", D(2026, 3, 1), 500, hour=18),  # one purchase day
        order("P1", D(2026, 3, 11), 2000), order("P1", D(2026, 3, 21), 3000),
        order("P2", D(2026, 2, 1), 800),
        order("P3", D(2026, 1, 1), 100), order("P3", D(2026, 3, 31), 300),
        order("P4", D(2026, 3, 31), 400, hour=23.5),
        *[order("P5", D(2026, 3, day), fen) for day, fen in ((15, 100), (16, 100), (17, 100), (18, 700))],
        event("P5", at(D(2026, 3, 20)), "Checkout Started", fen=5000),  # not an order
        # the holdout: after UNTIL
        order("P4", D(2026, 4, 1), 400, hour=0.5), order("P1", D(2026, 4, 5), 10), order("P1", D(2026, 4, 5), 20),
        order("P2", D(2026, 4, 10), 30),
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_calibration_summary_by_hand(kind: str, tmp_path: Path) -> None:
    with store(kind, tmp_path, history()) as an:
        c = clv.customers(an, UNTIL)
    assert c.person == ["P1", "P2", "P3", "P4", "P5"]
    assert c.x.tolist() == [2, 0, 1, 0, 3]
    assert c.t_x.tolist() == [20, 0, 89, 0, 3]
    assert c.T.tolist() == [30, 58, 89, 0, 16]
    assert c.m.tolist() == [2500, 0, 300, 0, 300]


def test_report_is_the_models_on_that_summary_and_identical_on_both_engines(tmp_path: Path) -> None:
    q = ClvQuery(until=UNTIL, horizon_days=90, members=10)
    reports = {}
    for kind in KINDS:
        with store(kind, tmp_path, history()) as an:
            reports[kind] = clv.clv(an, q)
    a, b = reports["duckdb"], reports["clickhouse"]
    assert a.model_dump() == b.model_dump()
    x, t_x, T = np.array([2.0, 0, 1, 0, 3]), np.array([20.0, 0, 89, 0, 3]), np.array([30.0, 58, 89, 0, 16])
    bg = bgnbd.fit(x, t_x, T)
    assert a.bgnbd.r == bg.params["r"] and a.bgnbd.log_likelihood == bg.log_likelihood
    gg = gammagamma.fit(np.array([2.0, 1, 3]), np.array([2500.0, 300, 300]))
    assert a.gamma_gamma.gamma == gg.params["gamma"] and a.gamma_gamma.customers == 3
    assert a.customers == 5 and a.repeat_customers == 3
    # holdout: 2026-04-01 .. 2026-04-10 (the last order), P1 / P2 / P4 bought on one day each
    assert a.holdout is not None
    assert (a.holdout.start, a.holdout.end, a.holdout.days, a.holdout.actual) == (D(2026, 4, 1), D(2026, 4, 10), 10, 3)
    expected = bgnbd.expected_purchases(bg.params, 10.0, x, t_x, T)
    assert a.holdout.predicted == round(float(expected.sum()), 4)
    assert [m.person_id for m in a.members] == sorted([m.person_id for m in a.members],
                                                      key=lambda p: -next(m.expected_value_fen for m in a.members
                                                                          if m.person_id == p))
    assert sum(m.expected_value_fen for m in a.members) == pytest.approx(a.expected_value_fen, abs=5)


@pytest.mark.parametrize("kind", KINDS)
def test_too_little_history_is_a_clear_error(kind: str, tmp_path: Path) -> None:
    with store(kind, tmp_path, [order("A", D(2026, 3, 1), 100)]) as an, pytest.raises(NotEnoughData):
        clv.clv(an, ClvQuery(until=UNTIL))


def test_expected_value_discounts_each_step() -> None:
    c = clv.Customers(person=["a"], x=np.array([2.0]), t_x=np.array([20.0]), T=np.array([30.0]),
                      m=np.array([1000.0]))
    bg = {"r": 0.5, "alpha": 10.0, "a": 2.0, "b": 3.0}
    gg = {"p": 6.0, "q": 4.0, "gamma": 15.0}
    purchases, spend, value = clv.expected_value(bg, gg, c, 60, 0.1)
    e30 = bgnbd.expected_purchases(bg, 30.0, c.x, c.t_x, c.T)[0]
    e60 = bgnbd.expected_purchases(bg, 60.0, c.x, c.t_x, c.T)[0]
    s = 6 * (15 + 2000) / (12 + 3)
    assert purchases[0] == e60 and spend[0] == pytest.approx(s)
    assert value[0] == pytest.approx(e30 * s / 1.1 ** (30 / 365) + (e60 - e30) * s / 1.1 ** (60 / 365))
