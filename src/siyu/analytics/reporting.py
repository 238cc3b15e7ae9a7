"""``siyu report ...``: the CLI face of every analysis. Commands live with their analyses
(``behaviour/cli.py``, ``value/cli.py``, ``value/spend_cli.py``) and register on :data:`report`; they print a
table, or CSV / JSON with ``--format``. The event store is reached like the query API reaches it (the running
server's worker, or the store itself when no server runs). What every command shares is here: dates and
periods from options, a query schema from options (bad input is a usage error, exit code 2), Siyu errors as
one line on stderr (``error: MESSAGE (CODE)``) and exit code 1, and printing."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from siyu.analytics.engine import Analytics, local_today
from siyu.config import Settings
from siyu.errors import SiyuError
from siyu.kit.cli import print_json, print_table
from siyu.warehouse.factory import open_for_reading

report = typer.Typer(help="Analytics reports: KPIs, funnels, retention, paths, RFM, lifetime value, "
                     "attribution, channel economics.", no_args_is_help=True)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


FormatOpt = typer.Option(Format.table, "--format", help="table, csv or json")
JsonOpt = typer.Option(False, "--json", help="Same as --format json.")
START = typer.Option(None, "--start", help="First day, YYYY-MM-DD (default: 29 days before --end)")
END = typer.Option(None, "--end", help="Last day, included (default: today, brand-local)")
M = TypeVar("M", bound=BaseModel)


@contextmanager
def analytics() -> Iterator[Analytics]:
    settings = Settings()
    warehouse = open_for_reading(settings)
    try:
        yield Analytics.of(warehouse, settings.analytics_tz_offset_minutes, settings.query_timeout_s)
    finally:
        warehouse.close()


@contextmanager
def siyu_errors() -> Iterator[None]:
    """A Siyu error (bad input the schema could not see, too little data, no event store) as one line on
    stderr, ``error: MESSAGE (CODE)`` (and its details), and exit code 1."""
    try:
        yield
    except SiyuError as err:
        typer.echo(f"error: {err.message} ({err.code})", err=True)
        if err.details:
            typer.echo(f"details: {err.details}", err=True)
        raise typer.Exit(1) from err


@contextmanager
def running() -> Iterator[Analytics]:
    """:func:`analytics`, with Siyu errors reported by :func:`siyu_errors`."""
    with siyu_errors(), analytics() as an:
        yield an


def day(value: str | None, name: str) -> date | None:
    """A ``YYYY-MM-DD`` option (None stays None); anything else is a usage error naming the option."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a YYYY-MM-DD date", param_hint=name) from exc


def period(an: Analytics, start: str | None, end: str | None, days: int = 30) -> tuple[date, date]:
    """``--start`` / ``--end``; by default the ``days`` days up to today (brand-local)."""
    last = day(end, "--end") or local_today(an)
    return day(start, "--start") or last - timedelta(days=days - 1), last


def build(schema: type[M], **values: Any) -> M:
    """``schema`` from option values (None: the schema's default); invalid values are a usage error."""
    try:
        return schema.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise typer.BadParameter("; ".join(f"{'.'.join(map(str, e['loc'])) or 'definition'}: {e['msg']}"
                                           for e in exc.errors())) from exc


def emit(fmt: Format, as_json: bool, payload: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]],
         title: str | None = None) -> None:
    """Print a report: ``payload`` (a result model, or any JSON-able value) for JSON, else ``rows`` as a table
    or CSV."""
    if as_json or fmt is Format.json:
        print_json(payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload)
    elif fmt is Format.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        print_table(columns, rows, title=title)
