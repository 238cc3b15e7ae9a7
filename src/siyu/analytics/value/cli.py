"""``siyu report rfm | rfm-movement | clv | attribution | economics`` (and ``siyu report spend ...``, see
``spend_cli.py``): each prints a table, or CSV / JSON with ``--format`` (``--json`` for short). A Siyu error
is one line on stderr, ``error: MESSAGE (CODE)``, and exit code 1."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from pydantic import TypeAdapter

from siyu.analytics.reporting import END, START, Format, FormatOpt, JsonOpt, build, day, emit, period, report, running
from siyu.analytics.value import attribution as attribution_service
from siyu.analytics.value import clv as clv_service
from siyu.analytics.value import economics as economics_service
from siyu.analytics.value import rfm as rfm_service
from siyu.analytics.value import spend_cli
from siyu.analytics.value.channel_schemas import AttributionQuery, EconomicsQuery, Level, Model
from siyu.analytics.value.schemas import ClvQuery, MovementQuery, RfmQuery, SegmentRule

report.add_typer(spend_cli.app, name="spend")

EVENT = typer.Option("Order Completed", "--event", help="The conversion / order event")


@report.command("rfm")
def rfm(as_of: str | None = typer.Option(None, "--as-of", help="Score as of this day (default today)"),
        window_days: int = typer.Option(365, "--window-days", help="Orders of the last N days count"),
        members: int = typer.Option(0, "--members", help="Also list N members' scores"),
        segment: str | None = typer.Option(None, "--segment", help="List only members of this segment"),
        segments: Path | None = typer.Option(None, "--segments", help="JSON file: [{name, r, f, m}, ...] rules"),
        event: str = EVENT, fmt: Format = FormatOpt, as_json: bool = JsonOpt) -> None:
    """RFM scores and segment sizes (members' scores with --members)."""
    rules = TypeAdapter(list[SegmentRule]).validate_python(json.loads(segments.read_text())) if segments else None
    q = build(RfmQuery, as_of=day(as_of, "--as-of"), window_days=window_days, members=members, segment=segment,
              segments=rules, event=event)
    with running() as an:
        out = rfm_service.rfm(an, q)
    if out.members:
        cols = ["person_id", "segment", "r", "f", "m", "recency_days", "frequency", "monetary_fen"]
        rows = [[getattr(m, c) for c in cols] for m in out.members]
    else:
        cols = ["segment", "members", "share", "recency_days_avg", "frequency_avg", "monetary_fen_avg", "monetary_fen"]
        rows = [[getattr(s, c) for c in cols] for s in out.segments]
    emit(fmt, as_json, out, cols, rows, title=f"RFM as of {out.as_of} ({out.customers} customers)")


@report.command("rfm-movement")
def rfm_movement(start: str = typer.Argument(..., help="The earlier day"),
                 end: str = typer.Argument(..., help="The later day"),
                 window_days: int = typer.Option(365, "--window-days"), event: str = EVENT,
                 fmt: Format = FormatOpt, as_json: bool = JsonOpt) -> None:
    """Members moving between RFM segments from START to END."""
    q = build(MovementQuery, start=day(start, "START"), end=day(end, "END"), window_days=window_days, event=event)
    with running() as an:
        out = rfm_service.movement(an, q)
    rows = [[t.from_segment, t.to_segment, t.members] for t in out.transitions]
    emit(fmt, as_json, out, ["from", "to", "members"], rows, title=f"RFM segments {out.start} -> {out.end}")


@report.command("clv")
def clv(until: str | None = typer.Option(None, "--until", help="Fit on orders up to this day (default today); "
                                         "later orders are a holdout"),
        since: str | None = typer.Option(None, "--since", help="Ignore orders before this day"),
        horizon_days: int = typer.Option(365, "--horizon-days"),
        discount_rate: float = typer.Option(0.10, "--discount-rate", help="Yearly"),
        members: int = typer.Option(20, "--members", help="List the N members of highest value"),
        event: str = EVENT, fmt: Format = FormatOpt, as_json: bool = JsonOpt) -> None:
    """Customer lifetime value: BG/NBD + Gamma-Gamma, per-member expected purchases, P(alive), value."""
    q = build(ClvQuery, until=day(until, "--until"), since=day(since, "--since"), horizon_days=horizon_days,
              discount_rate=discount_rate, members=members, event=event)
    with running() as an:
        out = clv_service.clv(an, q)
    cols = ["person_id", "frequency", "recency_days", "age_days", "average_spend_fen", "probability_alive",
            "expected_purchases", "expected_spend_fen", "expected_value_fen"]
    bg, gg = out.bgnbd, out.gamma_gamma
    title = (f"CLV until {out.until}: {out.customers} customers; BG/NBD r={bg.r:.4g} alpha={bg.alpha:.4g} "
             f"a={bg.a:.4g} b={bg.b:.4g}; Gamma-Gamma p={gg.p:.4g} q={gg.q:.4g} gamma={gg.gamma:.4g}")
    emit(fmt, as_json, out, cols, [[getattr(m, c) for c in cols] for m in out.members], title=title)


@report.command("attribution")
def attribution(model: Model = typer.Option(Model.last_non_direct, "--model"),
                by: Level = typer.Option(Level.channel, "--by", help="channel, source or campaign"),
                start: str | None = START, end: str | None = END,
                lookback_days: int = typer.Option(30, "--lookback-days"),
                half_life_days: float = typer.Option(7.0, "--half-life-days", help="time_decay"),
                event: str = EVENT, fmt: Format = FormatOpt, as_json: bool = JsonOpt) -> None:
    """Conversions and revenue credited per channel, source or campaign."""
    with running() as an:
        first, last = period(an, start, end)
        q = build(AttributionQuery, start=first, end=last, model=model, group_by=by, lookback_days=lookback_days,
                  half_life_days=half_life_days, event=event)
        out = attribution_service.attribution(an, q)
    cols = ["channel", "source", "campaign", "conversions", "revenue_fen", "share", "removal_effect"]
    keep = [c for c in cols if c not in ({"source", "campaign"} if by is Level.channel else
                                         {"campaign"} if by is Level.source else set())
            and (c != "removal_effect" or model is Model.markov)]
    emit(fmt, as_json, out, keep, [[getattr(r, c) for c in keep] for r in out.rows],
         title=f"{model.value} attribution {out.start}..{out.end}: {out.conversions} conversions, "
               f"{out.revenue_fen} fen")


@report.command("economics")
def economics(start: str | None = START, end: str | None = END,
              as_of: str | None = typer.Option(None, "--as-of", help="Observe behaviour up to (default today)"),
              by: Level = typer.Option(Level.channel, "--by", help="channel or campaign"),
              ltv: str = typer.Option("realised", "--ltv", help="realised or predicted"),
              currency: str = typer.Option("CNY", "--currency"),
              event: str = EVENT, fmt: Format = FormatOpt, as_json: bool = JsonOpt) -> None:
    """Per acquisition channel: spend, CAC, conversion, retention, repurchase, LTV and LTV/CAC."""
    with running() as an:
        first, last = period(an, start, end)
        q = build(EconomicsQuery, start=first, end=last, as_of=day(as_of, "--as-of"), group_by=by, ltv=ltv,
                  currency=currency, event=event)
        spends = spend_cli.spend_in_period(q.start, q.end)
        out = economics_service.economics(an, q, spends)
    cols = ["channel", "campaign", "spend_fen", "visitors", "conversion_rate", "new_customers", "cac_fen",
            "retention_rate", "repurchase_rate", "ltv_fen", "ltv_cac"]
    if by is Level.channel:
        cols.remove("campaign")
    emit(fmt, as_json, out, cols, [[getattr(r, c) for c in cols] for r in out.rows],
         title=f"Channel economics {out.start}..{out.end} (as of {out.as_of}, LTV {out.ltv})")
