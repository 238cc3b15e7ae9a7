"""Helpers for CLI commands: settings, a transaction, printing JSON or a table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from siyu.config import Settings
from siyu.db import Database
from siyu.migrate import upgrade

console = Console()


@contextmanager
def cli_session() -> Iterator[Session]:
    """A transaction on the configured database, migrated first (safe while a server runs)."""
    settings = Settings()
    settings.ensure_data_dir()
    url = settings.resolved_database_url()
    upgrade(url)
    db = Database(url)
    try:
        with db.session() as session:
            yield session
    finally:
        db.dispose()


def print_json(value: Any) -> None:
    print(msgspec.json.encode(value).decode())


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*["" if v is None else str(v) for v in r])
    console.print(table)
