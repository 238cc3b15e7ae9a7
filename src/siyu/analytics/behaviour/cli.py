"""``siyu report kpis | funnel | retention | paths``: a table, or CSV / JSON with ``--format`` (``--json``).

Periods are brand-local days (default: the 30 days up to today). A funnel's filters, optional steps and
per-step windows come from ``--definition FILE.json`` (the API's body); the options cover the rest. A Siyu
error is one line on stderr, ``error: MESSAGE (CODE)``, and exit code 1.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer

from siyu.analytics.behaviour import funnel as funnel_service
from siyu.analytics.behaviour import kpis as kpi_service
from siyu.analytics.behaviour import paths as paths_service
from siyu.analytics.behaviour import retention as retention_service
from siyu.analytics.behaviour.cli_tables import funnel_rows, kpi_rows, retention_rows
from siyu.analytics.behaviour.funnel_schemas import (
    Attribution,
    Breakdown,
    FunnelOrder,
    FunnelPersonsQuery,
    FunnelQuery,
    PersonStatus,
)
from siyu.analytics.behaviour.schemas import CohortMode, Direction, KpiQuery, PathsQuery, RetentionQuery, Unit
from siyu.analytics.engine import local_today
from siyu.analytics.reporting import END, START, Format, FormatOpt, JsonOpt, build, day, emit, period, report, running
from siyu.analytics.schemas import Channel

CHANNELS = typer.Option([], "--channel", help="Only this channel's events (repeatable)")


@report.command("kpis")
def kpis(start: str | None = START, end: str | None = END, channel: list[Channel] = CHANNELS,
         by_channel: bool = typer.Option(False, "--by-channel", help="Also each channel on its own"),
         compare: bool = typer.Option(True, "--compare/--no-compare", help="Beside the previous period"),
         as_of: str | None = typer.Option(None, "--as-of", help="Retention seen up to (default today)"),
         fmt: Format = FormatOpt, as_json: bool = JsonOpt) -> None:
    """Channel KPIs: users, members, orders, GMV, AOV, conversion, share and repurchase rates, retention."""
    with running() as an:
        first, last = period(an, start, end)
        q = build(KpiQuery, start=first, end=last, channels=channel, by_channel=by_channel,
                  compare=compare, as_of=day(as_of, "--as-of"))
        out = kpi_service.kpis(an, q)
    cols, rows = kpi_rows(out)
    title = f"KPIs {out.start}..{out.end}" + (f" vs {out.previous_start}..{out.previous_end}" if compare else "")
    emit(fmt, as_json, out, cols, rows, title=title)


@report.command("funnel")
def funnel(step: list[str] = typer.Option([], "--step", help="An event name, in order (repeatable)"),
           definition: Path | None = typer.Option(None, "--definition", help="A funnel as JSON (the API's body); "
                                                 "other options override its fields"),
           start: str | None = START, end: str | None = END, channel: list[Channel] = CHANNELS,
           window: str | None = typer.Option(None, "--window", help="e.g. 30m, 12h, 7d (default 7d)"),
           order: FunnelOrder | None = typer.Option(None, "--order", help="ordered, strict or unordered"),
           exclude: list[str] = typer.Option([], "--exclude", help="An event that, between the first and the "
                                             "last step, disqualifies a conversion (repeatable)"),
           breakdown: Breakdown | None = typer.Option(None, "--breakdown", help="channel or a UTM field"),
           attribution: Attribution | None = typer.Option(None, "--attribution", help="first_touch, last_touch"),
           persons: int | None = typer.Option(None, "--persons", help="List the persons at this step (1-based)"),
           dropped: bool = typer.Option(False, "--dropped", help="With --persons: those who went no further"),
           value: str | None = typer.Option(None, "--value", help="With --persons: of this breakdown value"),
           limit: int = typer.Option(100, "--limit"), after: str | None = typer.Option(None, "--after"),
           fmt: Format = FormatOpt, as_json: bool = JsonOpt) -> None:
    """A funnel: persons per step, conversion, drop-off, time to convert (or the persons at a step)."""
    body: dict[str, Any] = json.loads(definition.read_text()) if definition else {}
    if step:
        body["steps"] = [{"event": s} for s in step]
    if exclude:
        body["exclusions"] = [{"event": x} for x in exclude]
    for name, v in {"window": window, "order": order, "breakdown": breakdown, "attribution": attribution}.items():
        if v is not None:
            body[name] = v
    if channel:
        body["channels"] = channel
    with running() as an:
        first, last = period(an, start or body.get("start"), end or body.get("end"))
        q = build(FunnelQuery, **{**body, "start": first, "end": last})
        if persons is not None:
            pq = build(FunnelPersonsQuery, funnel=q, step=persons, breakdown_value=value, limit=limit,
                       status=PersonStatus.dropped if dropped else PersonStatus.reached,
                       after=after)
            page = funnel_service.funnel_persons(an, pq)
            emit(fmt, as_json, page, ["person"], [[p] for p in page.items],
                 title=f"Persons at step {persons}" + (f" (next: --after {page.next_cursor})"
                                                        if page.next_cursor else ""))
            return
        out = funnel_service.run_funnel(an, q)
    cols, rows = funnel_rows(out)
    emit(fmt, as_json, out, cols, rows,
         title=f"{out.order.value} funnel {out.start}..{out.end}, window {window or q.window}")


@report.command("retention")
def retention(start: str | None = START, end: str | None = END, channel: list[Channel] = CHANNELS,
              unit: Unit = typer.Option(Unit.week, "--unit", help="day, week or month"),
              periods: int = typer.Option(12, "--periods", help="Follow each cohort this many periods"),
              start_event: str | None = typer.Option(None, "--start-event", help="Default: any event"),
              return_event: str | None = typer.Option(None, "--return-event", help="Default: any event"),
              recurring: bool = typer.Option(False, "--recurring", help="Recurring rather than first-time"),
              by_channel: bool = typer.Option(False, "--by-channel", help="By acquisition channel"),
              revenue: bool = typer.Option(True, "--revenue/--no-revenue", help="Cumulative revenue (LTV)"),
              as_of: str | None = typer.Option(None, "--as-of"),
              fmt: Format = FormatOpt, as_json: bool = JsonOpt) -> None:
    """Retention cohorts (with lifetime-value curves)."""
    with running() as an:
        last = day(end, "--end") or local_today(an)
        first = day(start, "--start") or last - timedelta(weeks=11)
        q = build(RetentionQuery, start=first, end=last, channels=channel, unit=unit,
                  periods=periods, start_event=start_event, return_event=return_event,
                  mode=CohortMode.recurring if recurring else CohortMode.first_time,
                  by_channel=by_channel, revenue=revenue, as_of=day(as_of, "--as-of"))
        out = retention_service.retention(an, q)
    cols, rows = retention_rows(out, long=fmt is Format.csv)
    emit(fmt, as_json, out, cols, rows, title=f"{out.mode.value} {out.unit.value} cohorts")


@report.command("paths")
def paths(event: str = typer.Option(..., "--event", help="The event to look around"),
          direction: Direction = typer.Option(Direction.next, "--direction", help="next or previous"),
          depth: int = typer.Option(1, "--depth", help="How many events after (before)"),
          top: int = typer.Option(20, "--top"),
          by_channel: bool = typer.Option(True, "--by-channel/--no-channel", help="Label events with channels"),
          include_pages: bool = typer.Option(False, "--include-pages", help="Page and screen views count too"),
          within: str = typer.Option("1d", "--within", help="A longer gap ends the path"),
          start: str | None = START, end: str | None = END, channel: list[Channel] = CHANNELS,
          fmt: Format = FormatOpt, as_json: bool = JsonOpt) -> None:
    """The most common next (or previous) events around an event, across channels."""
    with running() as an:
        first, last = period(an, start, end)
        q = build(PathsQuery, start=first, end=last, channels=channel, event=event,
                  direction=direction, depth=depth, top=top, by_channel=by_channel,
                  include_pages=include_pages, within=within)
        out = paths_service.paths(an, q)
    rows = [[" -> ".join(p.path), p.occurrences, p.persons, p.share] for p in out.paths]
    emit(fmt, as_json, out, ["path", "occurrences", "persons", "share"], rows,
         title=f"{direction.value} events around {event!r}: {out.occurrences} occurrences, "
               f"{out.cross_channel} moved channel")
