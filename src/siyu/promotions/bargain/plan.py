"""How much each helper cuts: the gap between the start price and the floor split, at the bargain's start,
into exactly ``helpers`` random parts, each within [``min_cut``, ``max_cut``].

Part ``i`` is drawn uniformly from the range that keeps the rest feasible: with ``R`` left to cut and ``m``
parts to go, ``max(min_cut, R - (m-1)·max_cut) <= part <= min(max_cut, R - (m-1)·min_cut)``. That range is
never empty while ``(m)·min_cut <= R <= m·max_cut`` holds, and choosing within it keeps that true for the
remaining ``m-1`` parts, so the last part is exactly what is left: the last required helper lands on the
floor, and no part ever leaves the bounds.
"""

from __future__ import annotations

import random


def feasible(total: int, parts: int, lo: int, hi: int) -> bool:
    return parts >= 1 and 1 <= lo <= hi and parts * lo <= total <= parts * hi


def split(total: int, parts: int, lo: int, hi: int, rng: random.Random) -> list[int]:
    """``parts`` integers in [lo, hi] summing to ``total`` (which must be :func:`feasible`)."""
    if not feasible(total, parts, lo, hi):
        raise ValueError(f"cannot split {total} into {parts} parts within [{lo}, {hi}]")
    out = []
    left = total
    for m in range(parts, 0, -1):
        low = max(lo, left - (m - 1) * hi)
        high = min(hi, left - (m - 1) * lo)
        part = rng.randint(low, high)
        out.append(part)
        left -= part
    assert left == 0
    return out
