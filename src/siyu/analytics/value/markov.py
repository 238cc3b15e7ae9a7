"""Data-driven attribution by the removal effect of a first-order Markov chain (Anderl et al. 2016).

States are the touch keys (channel, or channel/source, or channel/source/campaign) plus ``start`` and the
absorbing ``conversion`` and ``null``. Every path adds its transitions start -> k1 -> ... -> kn ->
conversion (or null), weighted by how many journeys took it; repeats of one state in a row are collapsed
(a self-loop does not change where a chain ends). P(conversion) from start solves ``(I - Q) p = c`` over
the transient states. Removing a state sends every visit to it to ``null``; its removal effect is
``1 - P_without / P``, and the credit is shared in proportion to removal effects.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

Key = tuple[str, ...]
Journey = tuple[tuple[Key, ...], int]


def _collapse(path: Sequence[Key]) -> list[Key]:
    out: list[Key] = []
    for k in path:
        if not out or out[-1] != k:
            out.append(k)
    return out


def _probability(q: np.ndarray, conv: np.ndarray, removed: int | None = None) -> float:
    """P(conversion) from state 0 (start); ``removed``: that state absorbs into null."""
    q = q.copy()
    conv = conv.copy()
    if removed is not None:
        q[removed, :] = 0.0
        conv[removed] = 0.0
    n = len(conv)
    try:
        p = np.linalg.solve(np.eye(n) - q, conv)
    except np.linalg.LinAlgError:
        p = np.linalg.lstsq(np.eye(n) - q, conv, rcond=None)[0]
    return float(p[0])


def removal_effects(converting: Sequence[Journey], lost: Sequence[Journey]) -> dict[Key, float]:
    states = sorted({k for path, _ in [*converting, *lost] for k in path})
    index = {k: i + 1 for i, k in enumerate(states)}  # 0 is start
    n = len(states) + 1
    counts = np.zeros((n, n + 2))  # columns n, n+1: conversion, null
    for journeys, end in ((converting, n), (lost, n + 1)):
        for path, weight in journeys:
            seq = [0] + [index[k] for k in _collapse(path)] + [end]
            for a, b in pairwise(seq):
                counts[a, b] += weight
    totals = counts.sum(axis=1, keepdims=True)
    probs = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    q, conv = probs[:, :n], probs[:, n]
    base = _probability(q, conv)
    if base <= 0:
        return {k: 0.0 for k in states}
    return {k: max(0.0, 1.0 - _probability(q, conv, index[k]) / base) for k in states}


def shares(effects: dict[Key, float]) -> dict[Key, float]:
    total = sum(effects.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in effects.items()}
