"""``siyu import orders FILE`` and ``siyu import members FILE``: CSV exports from other systems into the
configured database, with a progress bar on stderr, a summary (``--json``: rows, imported, skipped, errors)
on stdout, and bad rows in ``FILE.errors.csv``. Interrupted (Ctrl-C, kill), the same command continues
after the last committed chunk; run again on the same file, it adds nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from siyu.config import Settings
from siyu.db import Database
from siyu.errors import SiyuError
from siyu.imports.csvsource import delimiter_of
from siyu.imports.errors import BadMapping, UnreadableFile
from siyu.imports.mapping import (
    MEMBER_COLUMNS,
    MEMBER_OPTIONS,
    ORDER_COLUMNS,
    ORDER_OPTIONS,
    load_file,
    member_options,
    merge,
    order_options,
    pairs,
)
from siyu.imports.members import MemberImport
from siyu.imports.orders import OrderImport
from siyu.imports.runner import Importer, Interrupted, run_import
from siyu.imports.schemas import ImportSummary
from siyu.imports.values import zone
from siyu.kit.cli import print_json, print_table
from siyu.migrate import upgrade

app = typer.Typer(help="Import CSV exports from other systems: orders and members (resumable, idempotent).",
                  no_args_is_help=True)
err = Console(stderr=True)

MAPPING = typer.Option(None, "--mapping", help="A JSON or TOML file with the flags' names as keys (col_customer = "
                       "\"手机号\", customer_kind = \"phone\", date_format = [...], ...); flags given as well win")
MEMBER_MAPPING = typer.Option(None, "--mapping", help="A JSON or TOML file with the flags' names as keys "
                              "(col_joined_at, timezone, ...) and tables \\[ids] and \\[traits] of NAME = COLUMN; "
                              "flags given as well win")
DATE_FORMAT = typer.Option(None, "--date-format", help="A strptime format, 'iso' or 'unix'; repeat to accept several "
                           "(default: ISO-8601 and %Y/%m/%d [%H:%M[:%S]])")
TIMEZONE = typer.Option(None, "--timezone", help="Zone of times written without one (default Asia/Shanghai)")
SOURCE = typer.Option(None, "--source", help="Name of the system the file came from (default: the file's name)")
APP_ID = typer.Option(None, "--app-id", help="The WeChat app id of OpenIDs written without 'APPID:'")
ENCODING = typer.Option(None, "--encoding", help="Default: UTF-8 if the file is UTF-8, else GB18030")
DELIMITER = typer.Option(None, "--delimiter", help="Field delimiter (default ','; 'tab' for tabs)")
ERRORS = typer.Option(None, "--errors", help="Where to write the bad rows (default FILE.errors.csv)")
CHUNK = typer.Option(5000, "--chunk-size", min=1, max=100_000, help="Rows per transaction")
PROGRESS = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr")
JSON = typer.Option(False, "--json", help="Print the summary as JSON")


@contextmanager
def _database() -> Iterator[Database]:
    settings = Settings()
    settings.ensure_data_dir()
    url = settings.resolved_database_url()
    upgrade(url)
    db = Database(url)
    try:
        yield db
    finally:
        db.dispose()


def _values(mapping: Path | None, flags: dict[str, Any], columns: tuple[str, ...],
            options: tuple[str, ...]) -> dict[str, Any]:
    return merge(load_file(mapping) if mapping is not None else {}, flags, columns, options)


def _run(file: Path, make: Callable[[], Importer], *, encoding: str | None, delimiter: str | None,
         errors: Path | None, chunk_size: int, progress: bool, json: bool) -> None:
    try:
        importer = make()
        with _database() as db, Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("lines"),
                TimeElapsedColumn(), TimeRemainingColumn(), console=err, disable=not progress) as bar:
            task = bar.add_task(f"importing {file.name}", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            summary = run_import(db, importer, file, encoding=encoding, delimiter=delimiter_of(delimiter),
                                 chunk_size=chunk_size, errors_path=errors, progress=advance)
    except SiyuError as e:
        typer.echo(f"error: {e.message} ({e.code})", err=True)
        raise typer.Exit(1) from e
    except Interrupted as e:
        typer.echo(f"interrupted: rows up to line {e.last_line} are imported; run the same command again to "
                   "continue from there", err=True)
        raise typer.Exit(130) from e
    _show(summary, json)


def _show(s: ImportSummary, json: bool) -> None:
    if json:
        print_json(s.model_dump(mode="json"))
        return
    if s.resumed_from_line:
        err.print(f"resumed after line {s.resumed_from_line}")
    print_table(["rows", "imported", "skipped", "errors", "seconds"],
                [[s.rows, s.imported, s.skipped, s.error_count, s.seconds]], title=f"{s.kind} from {s.file}")
    if s.errors:
        shown = s.errors[:20]
        print_table(["line", "code", "reason"], [[e.line, e.code, e.reason] for e in shown],
                    title=f"bad rows ({s.error_count}; all of them in {s.errors_file})")


@app.command("orders")
def orders(
    file: Path = typer.Argument(..., help="The CSV export"),
    mapping: Path | None = MAPPING,
    col_customer: str | None = typer.Option(None, "--col-customer", help="Column of the customer's identifier"),
    customer_kind: str | None = typer.Option(None, "--customer-kind", help="Its kind: phone, email, user_id, "
                                             "wechat_unionid, wechat_openid (APPID:OPENID), ..."),
    col_customer_kind: str | None = typer.Option(None, "--col-customer-kind", help="Or a column holding the kind"),
    col_order_id: str | None = typer.Option(None, "--col-order-id", help="Order id column (rows sharing one are "
                                            "one order); without it each row is an order with an id from its content"),
    col_time: str | None = typer.Option(None, "--col-time", help="Order time column"),
    col_amount: str | None = typer.Option(None, "--col-amount", help="Column of what the row's line cost in all"),
    col_quantity: str | None = typer.Option(None, "--col-quantity", help="Quantity column (default 1)"),
    col_currency: str | None = typer.Option(None, "--col-currency", help="Currency column (ISO 4217)"),
    col_sku: str | None = typer.Option(None, "--col-sku", help="SKU code column"),
    col_title: str | None = typer.Option(None, "--col-title", help="Product name column"),
    col_channel: str | None = typer.Option(None, "--col-channel", help="Channel column (miniprogram, web, app)"),
    date_format: list[str] | None = DATE_FORMAT,
    timezone: str | None = TIMEZONE,
    currency: str | None = typer.Option(None, "--currency", help="Currency of rows without one (default CNY)"),
    amount_unit: str | None = typer.Option(None, "--amount-unit", help="yuan ('199.00', the default) or fen "
                                           "('19900'): major or minor units of the currency"),
    channel: str | None = typer.Option(None, "--channel", help="Channel of rows without one (default miniprogram)"),
    source: str | None = SOURCE,
    app_id: str | None = APP_ID,
    encoding: str | None = ENCODING,
    delimiter: str | None = DELIMITER,
    errors: Path | None = ERRORS,
    chunk_size: int = CHUNK,
    progress: bool = PROGRESS,
    json: bool = JSON,
) -> None:
    """Import historical orders: each becomes a completed, paid order of the customer's person."""
    flags = {"col_customer": col_customer, "customer_kind": customer_kind, "col_customer_kind": col_customer_kind,
             "col_order_id": col_order_id, "col_time": col_time, "col_amount": col_amount,
             "col_quantity": col_quantity, "col_currency": col_currency, "col_sku": col_sku, "col_title": col_title,
             "col_channel": col_channel, "date_format": date_format, "timezone": timezone, "currency": currency,
             "amount_unit": amount_unit, "channel": channel, "source": source, "app_id": app_id}

    def make() -> Importer:
        values = _values(mapping, flags, ORDER_COLUMNS, ORDER_OPTIONS)
        return OrderImport(order_options(values, file.stem))

    _run(file, make, encoding=encoding, delimiter=delimiter, errors=errors, chunk_size=chunk_size,
         progress=progress, json=json)


def as_of_time(value: str | None, timezone: str, file: Path) -> datetime:
    if value is None:
        try:
            return datetime.fromtimestamp(file.stat().st_mtime).astimezone()
        except OSError as e:
            raise UnreadableFile(f"Cannot read {file}: {e.strerror or e}", details={"file": str(file)}) from e
    try:
        at = datetime.fromisoformat(value)
    except ValueError as e:
        raise BadMapping(f"--as-of {value!r} is not an ISO-8601 time.", details={"as_of": value}) from e
    return at if at.tzinfo is not None else at.replace(tzinfo=zone(timezone))


@app.command("members")
def members(
    file: Path = typer.Argument(..., help="The CSV export"),
    mapping: Path | None = MEMBER_MAPPING,
    ids: list[str] | None = typer.Option(None, "--id", help="KIND=COLUMN, e.g. phone=手机号; repeat for each "
                                         "identifier column (user_id, wechat_unionid, phone, email, ...)"),
    traits: list[str] | None = typer.Option(None, "--trait", help="NAME=COLUMN, e.g. city=城市; repeat"),
    col_joined_at: str | None = typer.Option(None, "--col-joined-at", help="When the member joined"),
    col_channel: str | None = typer.Option(None, "--col-channel", help="Channel column"),
    channel: str | None = typer.Option(None, "--channel", help="Channel of rows without one (default server)"),
    date_format: list[str] | None = DATE_FORMAT,
    timezone: str | None = TIMEZONE,
    as_of: str | None = typer.Option(None, "--as-of", help="When the traits were true (default: the file's time)"),
    source: str | None = SOURCE,
    app_id: str | None = APP_ID,
    encoding: str | None = ENCODING,
    delimiter: str | None = DELIMITER,
    errors: Path | None = ERRORS,
    chunk_size: int = CHUNK,
    progress: bool = PROGRESS,
    json: bool = JSON,
) -> None:
    """Import members: each row's identifiers join one person, its other columns become traits."""

    def make() -> Importer:
        flags = {"ids": pairs(ids, "--id"), "traits": pairs(traits, "--trait"), "col_joined_at": col_joined_at,
                 "col_channel": col_channel, "channel": channel, "date_format": date_format, "timezone": timezone,
                 "source": source, "app_id": app_id, "as_of": as_of}
        opts = member_options(_values(mapping, flags, MEMBER_COLUMNS, MEMBER_OPTIONS), file.stem)
        return MemberImport(opts, as_of_time(opts.as_of, opts.timezone, file))

    _run(file, make, encoding=encoding, delimiter=delimiter, errors=errors, chunk_size=chunk_size,
         progress=progress, json=json)
