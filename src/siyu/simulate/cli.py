"""``siyu simulate``: generate the demo brand's traffic and send it, keeping the ground truth."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from siyu.config import Settings
from siyu.kit.cli import print_json, print_table
from siyu.simulate.model import CHANNELS, SimConfig
from siyu.simulate.truth import default_dir

err = Console(stderr=True)
ProgressFn = Callable[[int], None]


class Via(StrEnum):
    bulk = "bulk"
    api = "api"


def parse_end_date(value: str | None) -> date:
    """YYYY-MM-DD, or today (UTC) when not given."""
    if not value:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--end-date") from exc


def parse_keys(values: list[str]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for v in values:
        channel, sep, key = v.partition("=")
        if not sep or channel not in CHANNELS or not key:
            raise typer.BadParameter(f"{v!r}: use CHANNEL=KEY with CHANNEL one of {', '.join(CHANNELS)}",
                                     param_hint="--write-key")
        keys[channel] = key
    return keys


@contextmanager
def day_progress(days: int, enabled: bool, label: str = "simulating") -> Iterator[ProgressFn]:
    """A progress bar over the simulated days (on stderr), and the callback that moves it."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("days"), TimeElapsedColumn(), console=err, disable=not enabled) as bar:
        task = bar.add_task(label, total=days)
        yield lambda day: bar.update(task, completed=day)
        bar.update(task, completed=days)


def print_summary(summary: dict[str, Any]) -> None:
    d = summary["delivery"]
    rows: list[list[Any]] = [
        ["events", summary["events"]],
        *[[f"  {ch}", n] for ch, n in summary["events_by_channel"].items()],
        ["people", summary["people"]],
        ["cross-channel people", summary["cross_channel_people"]],
        ["orders", summary["orders"]],
        ["sent via", d["via"]],
        ["accepted", d["accepted"]],
        ["rejected", d["rejected"]],
        ["seconds", d["seconds"]],
        ["events / s", d["events_per_second"]],
        ["ground truth", summary["truth_dir"]],
    ]
    print_table(["what", "count"], rows, title="Simulated brand 山茶集")


def simulate(
    people: int = typer.Option(10_000, min=1, help="How many people"),
    days: int = typer.Option(90, min=1, help="How many days of history"),
    seed: int = typer.Option(42, help="Same seed and end date = the same messages"),
    end_date: str | None = typer.Option(None, help="Last day (exclusive), YYYY-MM-DD; default today (UTC)"),
    via: Via = typer.Option(Via.bulk, help="bulk: in process onto the bus; api: POST /v1/batch to --url"),
    url: str = typer.Option("http://127.0.0.1:8000", help="The server, with --via api"),
    write_key: list[str] = typer.Option(
        [], "--write-key", help="CHANNEL=KEY (miniprogram, web, app), with --via api; default: the simulator's "
        "own sources, created in the configured database"),
    out: Path | None = typer.Option(None, help="Where the ground truth goes; default <data_dir>/simulation"),
    concurrency: int = typer.Option(4, min=1, help="Requests in flight, with --via api"),
    json: bool = typer.Option(False, "--json", help="Print a JSON summary"),
) -> None:
    """Generate a realistic brand's mini-program, website and APP traffic and send it to Siyu."""
    from siyu.simulate.run import api_keys, simulate_api, simulate_bulk
    from siyu.simulate.send import SendError

    settings = Settings()
    settings.ensure_data_dir()
    config = SimConfig(people=people, days=days, seed=seed, end_date=parse_end_date(end_date))
    out_dir = out or default_dir(settings.data_dir)
    keys: dict[str, str] = {}
    if via is Via.api:
        keys = parse_keys(write_key) or api_keys(settings)
        if missing := [ch for ch in CHANNELS if ch not in keys]:
            raise typer.BadParameter(f"no write key for {', '.join(missing)}", param_hint="--write-key")
    try:
        with day_progress(days, enabled=not json) as progress:
            if via is Via.bulk:
                summary = asyncio.run(simulate_bulk(settings, config, out_dir, progress=progress))
            else:
                summary = asyncio.run(simulate_api(config, url, keys, out_dir, progress=progress,
                                                   concurrency=concurrency))
    except SendError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(code=2) from exc
    if json:
        print_json(summary)
    else:
        print_summary(summary)
        if via is Via.bulk:
            err.print("The events are on the bus: a running `siyu serve` (or `siyu worker`) moves them into "
                      "the event store.")
    if summary["delivery"]["rejected"]:
        err.print(f"[red]{summary['delivery']['rejected']} messages were rejected[/red]: "
                  f"{summary['delivery']['rejections'][:3]}")
        raise typer.Exit(code=1)
