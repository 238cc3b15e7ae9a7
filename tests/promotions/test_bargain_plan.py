"""The cut plan, as properties: for any feasible campaign, the planned cuts are each within bounds and add
up to exactly the gap between the start and the floor, so helper N lands exactly on the floor and there
is no cut N+1; and applying them one by one never goes below the floor."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siyu.promotions.bargain.plan import feasible, split


@st.composite
def campaigns(draw: st.DrawFn) -> tuple[int, int, int, int, int, int]:
    """(start, floor, helpers, min cut, max cut, seed), feasible by construction."""
    helpers = draw(st.integers(1, 100))
    lo = draw(st.integers(1, 10_000))
    hi = draw(st.integers(lo, lo + draw(st.sampled_from([0, 1, 10, 1_000, 1_000_000]))))
    gap = draw(st.integers(helpers * lo, helpers * hi))
    floor = draw(st.integers(0, 10**9))
    return floor + gap, floor, helpers, lo, hi, draw(st.integers(0, 2**63 - 1))


@given(campaigns())
def test_n_planned_cuts_land_exactly_on_the_floor_within_bounds(c: tuple[int, int, int, int, int, int]) -> None:
    start, floor, helpers, lo, hi, seed = c
    plan = split(start - floor, helpers, lo, hi, random.Random(seed))
    assert len(plan) == helpers  # no cut after the floor: there is no amount for helper N+1
    assert all(lo <= x <= hi for x in plan)
    price = start
    for i, amount in enumerate(plan, 1):
        price -= amount
        assert price >= floor
        assert (price == floor) == (i == helpers)  # only the last required helper reaches the floor
    assert price == floor


@given(campaigns())
def test_the_same_seed_plans_the_same_cuts(c: tuple[int, int, int, int, int, int]) -> None:
    start, floor, helpers, lo, hi, seed = c
    assert split(start - floor, helpers, lo, hi, random.Random(seed)) == \
        split(start - floor, helpers, lo, hi, random.Random(seed))


@given(st.integers(0, 10_000), st.integers(1, 50), st.integers(1, 500), st.integers(0, 500))
def test_infeasible_campaigns_are_refused(total: int, parts: int, lo: int, extra: int) -> None:
    hi = lo + extra
    if feasible(total, parts, lo, hi):
        assert sum(split(total, parts, lo, hi, random.Random(0))) == total
    else:
        with pytest.raises(ValueError):
            split(total, parts, lo, hi, random.Random(0))


def test_cuts_are_spread_not_fixed() -> None:
    plans = {tuple(split(19800, 4, 500, 10000, random.Random(seed))) for seed in range(50)}
    assert len(plans) > 40
