"""``siyu report ...``: the CLI face of every analysis. Commands live with their analyses
(``behaviour/cli.py``, ``value/cli.py``) and register on :data:`report`; they print a table, or CSV / JSON
with ``--format``. The event store is reached like the query API reaches it (the running server's worker,
or the store itself when no server runs)."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

import typer

from siyu.analytics.engine import Analytics
from siyu.config import Settings
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


@contextmanager
def analytics() -> Iterator[Analytics]:
    settings = Settings()
    warehouse = open_for_reading(settings)
    try:
        yield Analytics.of(warehouse, settings.analytics_tz_offset_minutes, settings.query_timeout_s)
    finally:
        warehouse.close()


def emit(fmt: Format, as_json: bool, payload: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]],
         title: str | None = None) -> None:
    """Print a report: ``payload`` (any JSON-able value) for JSON, else ``rows`` as a table or CSV."""
    if as_json or fmt is Format.json:
        print_json(payload)
    elif fmt is Format.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        print_table(columns, rows, title=title)
