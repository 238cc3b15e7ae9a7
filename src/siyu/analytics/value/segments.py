"""RFM segments: ordered rules over the three scores, and the default named set.

The default set follows the R x F grid in common use (R and F scores 1-5), with M separating the best
customers from merely frequent ones; every one of the 125 score combinations falls in exactly one segment:

| R \\ F | 1              | 2                   | 3                   | 4-5                                         |
|-------|----------------|---------------------|---------------------|---------------------------------------------|
| 5     | New            | Potential Loyalists | Potential Loyalists | Champions (M 4-5) / Loyal                   |
| 4     | Promising      | Potential Loyalists | Potential Loyalists | Champions (M 4-5) / Loyal                   |
| 3     | About to Sleep | About to Sleep      | Need Attention      | Loyal                                       |
| 2     | Hibernating    | Hibernating         | At Risk             | Can't Lose Them (M 4-5) / At Risk           |
| 1     | Lost (M 1-2) / Hibernating | Lost (M 1-2) / Hibernating | At Risk | Can't Lose Them (M 4-5) / At Risk |
"""

from __future__ import annotations

from collections.abc import Sequence

from siyu.analytics.dialect import Dialect
from siyu.analytics.value.errors import BadSegments
from siyu.analytics.value.schemas import SegmentRule

OTHER = "Other"  # members no rule matches (only with custom rules)
NONE = "(none)"  # not a customer in the window (movement)

DEFAULT_SEGMENTS: list[SegmentRule] = [
    SegmentRule(name="Champions", r=(4, 5), f=(4, 5), m=(4, 5)),
    SegmentRule(name="Loyal", r=(3, 5), f=(4, 5)),
    SegmentRule(name="Can't Lose Them", r=(1, 2), f=(4, 5), m=(4, 5)),
    SegmentRule(name="At Risk", r=(1, 2), f=(3, 5)),
    SegmentRule(name="Need Attention", r=(3, 3), f=(3, 3)),
    SegmentRule(name="Potential Loyalists", r=(4, 5), f=(2, 3)),
    SegmentRule(name="New", r=(5, 5), f=(1, 1)),
    SegmentRule(name="Promising", r=(4, 4), f=(1, 1)),
    SegmentRule(name="About to Sleep", r=(3, 3), f=(1, 2)),
    SegmentRule(name="Lost", r=(1, 1), f=(1, 2), m=(1, 2)),
    SegmentRule(name="Hibernating", r=(1, 2), f=(1, 2)),
]


def rules_or_default(rules: Sequence[SegmentRule] | None) -> list[SegmentRule]:
    if rules is None:
        return list(DEFAULT_SEGMENTS)
    if not rules:
        raise BadSegments("Give at least one segment rule, or none for the default set.")
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise BadSegments("Segment names must be unique.", details={"names": names})
    if OTHER in names or NONE in names:
        raise BadSegments(f"{OTHER!r} and {NONE!r} are reserved names.")
    return list(rules)


def segment_of(rules: Sequence[SegmentRule], r: int, f: int, m: int) -> str:
    """The segment of one score triple (the SQL below computes the same)."""
    for rule in rules:
        if rule.r[0] <= r <= rule.r[1] and rule.f[0] <= f <= rule.f[1] and rule.m[0] <= m <= rule.m[1]:
            return rule.name
    return OTHER


def case_sql(d: Dialect, rules: Sequence[SegmentRule], r: str = "r", f: str = "f", m: str = "m") -> str:
    """``CASE WHEN ... THEN 'name' ... ELSE 'Other' END`` over score columns ``r``, ``f``, ``m``."""
    whens = []
    for rule in rules:
        conds = [f"{col} BETWEEN {lo} AND {hi}" for col, (lo, hi) in ((r, rule.r), (f, rule.f), (m, rule.m))
                 if (lo, hi) != (1, 5)]
        whens.append(f"WHEN {' AND '.join(conds) or 'true'} THEN {d.lit(rule.name)}")
    return f"CASE {' '.join(whens)} ELSE {d.lit(OTHER)} END"
