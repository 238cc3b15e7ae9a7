"""``siyu referral ...``: check the reward ledger (and print its checkpoint, to publish elsewhere)."""

from __future__ import annotations

import typer

from siyu.kit.cli import cli_session, print_json
from siyu.promotions.referral import ledger

app = typer.Typer(help="Referral: the hash-chained reward ledger.", no_args_is_help=True)


def _anchor(value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise typer.BadParameter("give SEQ:HASH (a checkpoint printed earlier)")
    return int(seq), digest.lower()


@app.command()
def verify(
    json: bool = typer.Option(False, "--json", help="Print JSON"),
    anchor: str | None = typer.Option(None, help="SEQ:HASH of a checkpoint kept outside the database"),
) -> None:
    """Recompute the ledger's hash chain; exit code 1 if any entry was changed, inserted or removed."""
    pinned = _anchor(anchor)
    with cli_session() as session:
        v = ledger.verify(session, pinned)
    if json:
        print_json({"ok": v.ok, "entries": v.entries, "first_bad": v.first_bad, "reason": v.reason,
                    "checkpoint": {"seq": v.checkpoint[0], "hash": v.checkpoint[1]}})
    elif v.ok:
        typer.echo(f"ok: {v.entries} entries; checkpoint {v.checkpoint[0]}:{v.checkpoint[1]}")
    else:
        typer.echo(f"BAD at entry {v.first_bad}: {v.reason} ({v.entries} entries)")
    if not v.ok:
        raise typer.Exit(1)


@app.command()
def checkpoint(json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """The ledger's head (seq and hash): publish it outside the database, check later with --anchor."""
    with cli_session() as session:
        seq, digest = ledger.checkpoint(session)
    if json:
        print_json({"seq": seq, "hash": digest})
    else:
        typer.echo(f"{seq}:{digest}")
