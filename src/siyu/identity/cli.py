"""``siyu identity ...``: the operator's identity tools (merge, unmerge, conflicts, history) on the configured
database. They take the identity clock like the API's, so they are safe while a server and workers run: the
workers drop their caches and copy the changed links to the event store."""

from __future__ import annotations

import getpass
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from siyu.errors import SiyuError
from siyu.identity import service
from siyu.identity.router import conflict_out, merge_out
from siyu.identity.schemas import ConflictPage, MergeOut
from siyu.kit.cli import cli_session, print_json

app = typer.Typer(help="Identity: operator merges and unmerges, conflicts, history.", no_args_is_help=True)


class ConflictStatus(StrEnum):
    open = "open"
    resolved = "resolved"
    all = "all"


@contextmanager
def operator_session() -> Iterator[Session]:
    """A transaction; a Siyu error (an unknown person, a merge already undone, ...) is one line on stderr,
    ``error: MESSAGE (CODE)``, and exit code 1. Nothing is written then."""
    try:
        with cli_session() as session:
            yield session
    except SiyuError as err:
        typer.echo(f"error: {err.message} ({err.code})", err=True)
        raise typer.Exit(1) from err


def actor() -> str:
    """Who did it, for the audit record: the operating-system user running the command."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (KeyError, OSError):
        return "cli"


def when(value: datetime | None) -> str | None:
    """A time for a table (UTC, to the second)."""
    return f"{value:%Y-%m-%d %H:%M:%S}" if value is not None else None


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None,
           whole: Collection[str]) -> Table:
    table = Table(title=title, title_justify="left")
    for c in columns:
        if c in whole:
            table.add_column(c, no_wrap=True, min_width=32)
        else:
            table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*["" if v is None else str(v) for v in r])
    return table


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None,
               whole: Collection[str] = ()) -> None:
    """A table whose cells are never cut short. The ``whole`` columns (ids, for copying into the next
    command) keep one line; other long cells fold. A table too wide for the terminal is printed as one
    two-column table per row instead. Piped output is never folded."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=10_000)  # a table is only as wide as its cells
    table = _table(columns, rows, title, whole)
    wanted = console.measure(table, options=console.options.update_width(100_000)).maximum
    if len(columns) <= 2 or wanted <= console.width:
        console.print(table)
        return
    if title:
        console.print(title, style="italic")
    for r in rows:
        console.print(_table([columns[0], str(r[0])], list(zip(columns[1:], r[1:], strict=True)), None,
                             {str(r[0])}))


def print_merge(m: MergeOut) -> None:
    print_rows(["merge", m.id], [
        ["action", m.action], ["into person", m.into_person], ["from person", m.from_person],
        ["trigger", m.trigger], ["identifiers moved", len(m.identifiers)], ["reason", m.reason],
        ["actor", m.actor], ["at (UTC)", when(m.created_at)], ["undone at", when(m.undone_at)],
        ["undone by", m.undone_by]], whole={m.id})


def print_merges(rows: list[MergeOut], title: str | None = None) -> None:
    print_rows(
        ["id", "action", "into", "from", "trigger", "ids", "reason", "actor", "at (UTC)", "undone at"],
        [[m.id, m.action, m.into_person, m.from_person, m.trigger, len(m.identifiers), m.reason, m.actor,
          when(m.created_at), when(m.undone_at)] for m in rows],
        title=title, whole={"id", "into", "from"},
    )


@app.command("merge")
def merge(
    into: str = typer.Option(..., "--into", help="The person that survives"),
    from_: str = typer.Option(..., "--from", help="The person merged into it (its id stays an alias)"),
    reason: str = typer.Option(..., help="Why, for the audit record"),
    json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Merge one person into another (e.g. to settle a conflict). Undo with `siyu identity unmerge`."""
    with operator_session() as session:
        out = merge_out(service.merge(session, into, from_, reason, actor()))
    if json:
        print_json(out.model_dump(mode="json"))
    else:
        print_merge(out)


@app.command("unmerge")
def unmerge(
    merge_id: str,
    reason: str = typer.Option("operator unmerge", help="Why, for the audit record"),
    json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Undo a merge (automatic or explicit); the two persons then stay apart until an operator merges them."""
    with operator_session() as session:
        out = merge_out(service.unmerge(session, merge_id, reason, actor()))
    if json:
        print_json(out.model_dump(mode="json"))
    else:
        print_merge(out)


@app.command("conflicts")
def conflicts(
    status: ConflictStatus = typer.Option(ConflictStatus.open, help="open, resolved or all"),
    person: str | None = typer.Option(None, "--person", help="Only conflicts involving this person id"),
    limit: int = typer.Option(100, min=1, max=500),
    after: str | None = typer.Option(None, help="Page on: the next_cursor of the previous page"),
    json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Identifiers that would have joined two identified persons, or gone over a per-kind limit."""
    with operator_session() as session:
        items = service.conflicts(session, status.value, after, limit + 1, person)
        shown = [conflict_out(c) for c in items[:limit]]
    page = ConflictPage(items=shown, next_cursor=shown[-1].id if len(items) > limit and shown else None)
    if json:
        print_json(page.model_dump(mode="json"))
        return
    if not page.items:
        print(f"no {status.value} conflicts" + (f" for {person}" if person else ""))
        return
    print_rows(
        ["id", "reason", "person", "other person", "identifier", "at (UTC)", "resolved at"],
        [[c.id, c.reason, c.person_id, c.other_person_id, f"{c.identifier_kind} {c.identifier_value}",
          when(c.created_at), when(c.resolved_at)] for c in page.items],
        title=f"{status.value} conflicts" + (f" (more: --after {page.next_cursor})" if page.next_cursor else ""),
        whole={"id", "person", "other person"},
    )


@app.command("dismiss")
def dismiss(conflict_id: str, json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """Mark a conflict as looked at (the two persons stay apart)."""
    with operator_session() as session:
        out = conflict_out(service.dismiss_conflict(session, conflict_id))
    if json:
        print_json(out.model_dump(mode="json"))
    else:
        print(f"dismissed {out.id}")


@app.command("history")
def history(person: str, json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """Merges and unmerges that shaped a person, oldest first (a merged-away id answers its survivor's)."""
    with operator_session() as session:
        pid = service.current(session, person)
        rows = [merge_out(m) for m in service.history(session, pid)]
    if json:
        print_json([r.model_dump(mode="json") for r in rows])
    elif not rows:
        print(f"{pid} was never merged or unmerged")
    else:
        print_merges(rows, title=f"identity history of {pid}")
