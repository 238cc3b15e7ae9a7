"""Answers of the behaviour analyses as table rows for ``siyu report`` (the JSON form is the API's)."""

from __future__ import annotations

from typing import Any

from siyu.analytics.behaviour.funnel_schemas import FunnelResult, FunnelStepOut
from siyu.analytics.behaviour.schemas import KpiReport, KpiSet, RetentionResult

Rows = list[list[Any]]


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v * 100:.1f}%"


def _flat(values: Any) -> dict[str, Any]:
    return {k: (v["rate"] if isinstance(v, dict) else v) for k, v in values.model_dump().items()}


def kpi_rows(out: KpiReport) -> tuple[list[str], Rows]:
    sets: list[KpiSet] = [out.overall, *out.by_channel]
    cols = ["channel", "metric", "current", "previous", "change"]
    rows: Rows = []
    for s in sets:
        cur = _flat(s.current)
        prev = _flat(s.previous) if s.previous else {}
        for k, v in cur.items():
            rows.append([s.channel or "all", k, v, prev.get(k), s.change.get(k)])
    return cols, rows


def _step_row(s: FunnelStepOut) -> list[Any]:
    return [s.index, s.label + (" (optional)" if s.optional else ""), s.persons, _pct(s.conversion_from_first),
            _pct(s.conversion_from_previous), s.dropped, s.median_seconds_from_previous, s.avg_seconds_from_previous]


def funnel_rows(out: FunnelResult) -> tuple[list[str], Rows]:
    cols = ["step", "event", "persons", "from first", "from previous", "dropped", "median s", "avg s"]
    if not out.groups:
        return cols, [_step_row(s) for s in out.steps]
    rows: Rows = [["(all)", *_step_row(s)] for s in out.steps]
    for g in out.groups:
        rows += [["(none)" if g.value is None else g.value, *_step_row(s)] for s in g.steps]
    return [out.breakdown.value if out.breakdown else "value", *cols], rows


def retention_rows(out: RetentionResult, long: bool) -> tuple[list[str], Rows]:
    """Wide (one row per cohort, rates per period) for tables; long (one row per cohort and period) for CSV."""
    if long:
        cols = ["cohort", "channel", "size", "period", "returned", "rate", "revenue_fen", "ltv_fen"]
        rows: Rows = []
        for c in out.cohorts:
            for i, r in enumerate(c.returned):
                rows.append([c.cohort.isoformat(), c.channel, c.size, i, r, c.rates[i],
                             c.revenue_fen[i] if c.revenue_fen else None, c.ltv_fen[i] if c.ltv_fen else None])
        return cols, rows
    cols = ["cohort", "channel", "size", *[f"{out.unit.value[0]}{i}" for i in range(out.periods + 1)], "ltv_fen"]
    rows = []
    for c in out.cohorts:
        ltv = next((v for v in reversed(c.ltv_fen) if v is not None), None) if c.ltv_fen else None
        rows.append([c.cohort.isoformat(), c.channel or "", c.size, *[_pct(r) for r in c.rates], ltv])
    return cols, rows
