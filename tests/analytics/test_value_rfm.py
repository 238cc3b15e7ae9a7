"""RFM against hand-computed scores, segments and movements, on DuckDB and ClickHouse (chdb)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from siyu.analytics.value import rfm
from siyu.analytics.value.schemas import MovementQuery, RfmQuery, SegmentRule
from siyu.analytics.value.segments import DEFAULT_SEGMENTS, OTHER, segment_of
from tests.analytics.stores import KINDS, store
from tests.analytics.value_fixtures import at, event, order

D = date


def history() -> list:  # type: ignore[type-arg]
    return [
        order("A", D(2026, 3, 30), 100), order("A", D(2026, 3, 20), 200), order("A", D(2026, 3, 1), 300),
        order("B", D(2026, 3, 31), 5000),
        order("C", D(2026, 1, 15), 100), order("C", D(2026, 2, 1), 100),
        order("D", D(2026, 1, 5), 50),
        *[order("E", D(2026, 3, day), 1000) for day in (25, 26, 27, 28)],
        order("F", D(2025, 12, 1), 800),  # before the 90-day window of 2026-03-31
        order("G", D(2026, 3, 31), 700, hour=23.5),  # the last half hour of the day (15:30 UTC)
        order("H", D(2026, 4, 1), 900, hour=0.5),  # the next local day, though still 03-31 in UTC
        event("A", at(D(2026, 3, 31)), "Product Viewed", fen=99999),  # not an order
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_scores_and_default_segments(kind: str, tmp_path: Path) -> None:
    with store(kind, tmp_path, history()) as an:
        report = rfm.rfm(an, RfmQuery(as_of=D(2026, 3, 31), window_days=90, members=100))
    got = {m.person_id: (m.recency_days, m.frequency, m.monetary_fen, m.r, m.f, m.m, m.segment)
           for m in report.members}
    assert got == {
        "A": (1, 3, 600, 3, 4, 2, "Loyal"),
        "B": (0, 1, 5000, 4, 1, 5, "Promising"),
        "C": (58, 2, 200, 1, 3, 1, "At Risk"),
        "D": (85, 1, 50, 1, 1, 1, "Lost"),
        "E": (3, 4, 4000, 2, 5, 4, "Can't Lose Them"),
        "G": (0, 1, 700, 4, 1, 3, "Promising"),
    }
    assert report.customers == 6
    sizes = {s.segment: (s.members, s.monetary_fen) for s in report.segments}
    assert sizes == {"Loyal": (1, 600), "Promising": (2, 5700), "At Risk": (1, 200), "Lost": (1, 50),
                     "Can't Lose Them": (1, 4000)}
    promising = next(s for s in report.segments if s.segment == "Promising")
    assert promising.share == round(2 / 6, 6) and promising.monetary_fen_avg == 2850
    assert promising.recency_days_avg == 0 and promising.frequency_avg == 1
    assert [s.segment for s in report.segments] == ["Loyal", "Can't Lose Them", "At Risk", "Promising", "Lost"]


@pytest.mark.parametrize("kind", KINDS)
def test_custom_segments_and_member_filter(kind: str, tmp_path: Path) -> None:
    rules = [SegmentRule(name="Big spenders", m=(5, 5)), SegmentRule(name="Recent", r=(4, 5))]
    with store(kind, tmp_path, history()) as an:
        report = rfm.rfm(an, RfmQuery(as_of=D(2026, 3, 31), window_days=90, segments=rules, members=10,
                                      segment="Recent"))
    assert {s.segment: s.members for s in report.segments} == {"Big spenders": 1, "Recent": 1, OTHER: 4}
    assert [m.person_id for m in report.members] == ["G"]


@pytest.mark.parametrize("kind", KINDS)
def test_movement_between_two_days(kind: str, tmp_path: Path) -> None:
    with store(kind, tmp_path, history()) as an:
        mv = rfm.movement(an, MovementQuery(start=D(2026, 2, 15), end=D(2026, 3, 31), window_days=90))
    moves = {(t.from_segment, t.to_segment): t.members for t in mv.transitions}
    assert moves == {("Loyal", "At Risk"): 1, ("Hibernating", "Lost"): 1, ("Hibernating", "(none)"): 1,
                     ("(none)", "Loyal"): 1, ("(none)", "Promising"): 2, ("(none)", "Can't Lose Them"): 1}
    i = {name: k for k, name in enumerate(mv.segments)}
    assert mv.matrix[i["(none)"]][i["Promising"]] == 2
    assert sum(map(sum, mv.matrix)) == 7


def test_default_segments_cover_every_score() -> None:
    names = {segment_of(DEFAULT_SEGMENTS, r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)}
    assert OTHER not in names
    assert names == {"Champions", "Loyal", "Potential Loyalists", "New", "Promising", "Need Attention",
                     "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost"}
