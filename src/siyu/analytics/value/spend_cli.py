"""``siyu report spend add | list | import FILE | delete ID``: acquisition spend in the configured database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import typer
from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.analytics.reporting import Format, FormatOpt, JsonOpt, emit, siyu_errors
from siyu.analytics.value import spend
from siyu.analytics.value.channel_schemas import SpendIn, SpendOut
from siyu.kit.cli import cli_session

app = typer.Typer(help="Acquisition spend per channel, campaign and period (for channel economics).",
                  no_args_is_help=True)
COLUMNS = ["id", "channel", "campaign", "start", "end", "amount_fen", "currency", "note"]


@contextmanager
def session() -> Iterator[Session]:
    with siyu_errors(), cli_session() as s:
        yield s


def spend_in_period(start: date, end: date) -> list[SpendOut]:
    with session() as s:
        return spend.in_period(s, start, end)


def _show(items: list[SpendOut], fmt: Format, as_json: bool) -> None:
    rows = [[getattr(x, c) for c in COLUMNS] for x in items]
    emit(fmt, as_json, [x.model_dump(mode="json") for x in items], COLUMNS, rows, title="Acquisition spend")


@app.command("add")
def add(channel: str = typer.Argument(..., help="Attribution channel, e.g. paid_search"),
        start: str = typer.Argument(..., help="First day, YYYY-MM-DD"),
        end: str = typer.Argument(..., help="Last day, included"),
        amount_fen: int = typer.Argument(..., help="Amount in fen"),
        campaign: str | None = typer.Option(None, "--campaign"),
        currency: str = typer.Option("CNY", "--currency"), note: str = typer.Option("", "--note"),
        fmt: Format = FormatOpt, as_json: bool = JsonOpt) -> None:
    """Add one entry."""
    try:
        body = SpendIn(channel=channel, campaign=campaign, start=date.fromisoformat(start),
                       end=date.fromisoformat(end), amount_fen=amount_fen, currency=currency, note=note)
    except (ValueError, ValidationError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    with session() as s:
        out = spend.spend_out(spend.create(s, body))
    _show([out], fmt, as_json)


@app.command("list")
def list_(channel: str | None = typer.Option(None, "--channel"), fmt: Format = FormatOpt,
          as_json: bool = JsonOpt) -> None:
    """Every entry (of one channel)."""
    items: list[SpendOut] = []
    with session() as s:
        after = None
        while page := spend.list_spend(s, channel, after, 1000):
            items.extend(spend.spend_out(x) for x in page)
            after = page[-1].id
    _show(items, fmt, as_json)


@app.command("import")
def import_(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                        help="CSV: channel,campaign,start,end,amount_fen (or amount in yuan)"
                                             "[,currency,note]"),
            as_json: bool = JsonOpt) -> None:
    """Create or update entries from a CSV file, all rows or none (importing it again changes nothing)."""
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        typer.echo("error: the file is not UTF-8 (bad_spend_file)", err=True)
        raise typer.Exit(1) from exc
    with session() as s:
        out = spend.import_csv(s, text)
    emit(Format.table, as_json, out.model_dump(), ["rows", "created", "updated"],
         [[out.rows, out.created, out.updated]], title=f"Imported {file.name}")


@app.command("delete")
def delete(spend_id: str = typer.Argument(...)) -> None:
    """Delete one entry."""
    with session() as s:
        spend.delete(s, spend_id)
    typer.echo(f"deleted {spend_id}")
