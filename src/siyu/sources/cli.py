from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.orm import Session

from siyu.errors import SiyuError
from siyu.kit.cli import cli_session, print_json, print_table
from siyu.sources import service
from siyu.sources.router import source_out
from siyu.sources.schemas import Channel, SourceCreated

app = typer.Typer(help="Sources: one per channel app, each with its own write key.", no_args_is_help=True)


@contextmanager
def _session() -> Iterator[Session]:
    """A transaction; a Siyu error (an unknown source id, ...) is one line on stderr and exit code 1."""
    try:
        with cli_session() as session:
            yield session
    except SiyuError as err:
        typer.echo(f"error: {err.message} ({err.code})", err=True)
        raise typer.Exit(1) from err


@app.command("create")
def create(
    channel: Channel = typer.Option(..., help="miniprogram, web, app or server"),
    name: str = typer.Option(..., help="A name operators recognise, e.g. '官方小程序'"),
    rate_limit: float | None = typer.Option(None, help="Events per second (0 = unlimited)"),
    json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Create a source; prints its write key once."""
    with _session() as session:
        source, key = service.create_source(session, channel, name, rate_limit)
        out = SourceCreated(**source_out(source).model_dump(), write_key=key)
    if json:
        print_json(out.model_dump(mode="json"))
    else:
        print_table(["id", "channel", "name", "write_key"], [[out.id, out.channel.value, out.name, key]])


@app.command("list")
def list_(json: bool = typer.Option(False, "--json")) -> None:
    """List sources."""
    with _session() as session:
        rows = [source_out(s) for s in service.list_sources(session)]
    if json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    print_table(
        ["id", "channel", "name", "enabled", "keys"],
        [[r.id, r.channel.value, r.name, r.enabled, ", ".join(k.prefix + "…" for k in r.keys)] for r in rows],
    )


@app.command("rotate")
def rotate(
    source_id: str,
    grace_seconds: int = typer.Option(0, help="How long the old key keeps working"),
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Issue a new write key; the old one stops working after the grace period."""
    with _session() as session:
        key, expires = service.rotate_key(session, source_id, service.WRITE_KEY, grace_seconds)
    if json:
        print_json({"source_id": source_id, "write_key": key, "old_keys_expire_at": expires.isoformat()})
    else:
        print_table(["source", "new write key", "old keys expire"], [[source_id, key, expires.isoformat()]])


@app.command("bearer-token")
def bearer_token(source_id: str, json: bool = typer.Option(False, "--json")) -> None:
    """Issue (or rotate) the source's secret bearer token."""
    with _session() as session:
        key, _ = service.rotate_key(session, source_id, service.BEARER, 0)
    if json:
        print_json({"source_id": source_id, "token": key})
    else:
        print(key)


@app.command("disable")
def disable(source_id: str) -> None:
    """Stop accepting events from a source (within seconds in every API process)."""
    with _session() as session:
        service.set_enabled(session, source_id, False)
    print(f"disabled {source_id}")


@app.command("enable")
def enable(source_id: str) -> None:
    """Accept events from a disabled source again."""
    with _session() as session:
        service.set_enabled(session, source_id, True)
    print(f"enabled {source_id}")
