"""One simulation run: generate, deliver (bulk or API), and write the ground truth alongside."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from siyu.config import Settings
from siyu.simulate.engine import Simulator
from siyu.simulate.model import CHANNELS, SimConfig, SimEvent
from siyu.simulate.send import Delivery, send_api, send_bulk
from siyu.simulate.sources import SimSource, ensure_sources
from siyu.simulate.truth import TruthWriter

Progress = Callable[[int], None]  # called with the number of days fully generated so far


def _tracked(events: Iterator[SimEvent], progress: Progress | None) -> Iterator[SimEvent]:
    day = 0
    for ev in events:
        if progress is not None and ev.day != day:
            day = ev.day
            progress(day)
        yield ev


def _summary(sim: Simulator, delivery: Delivery, out_dir: Path, sources: dict[str, str],
             generated_s: float) -> dict[str, Any]:
    summary = sim.summary()
    summary["delivery"] = delivery.as_dict()
    summary["sources"] = sources
    summary["truth_dir"] = str(out_dir)
    summary["seconds"] = round(generated_s, 2)
    return summary


async def simulate_bulk(settings: Settings, config: SimConfig, out_dir: Path, *,
                        sources: dict[str, SimSource] | None = None,
                        progress: Progress | None = None) -> dict[str, Any]:
    """Generate and load in process through the tracking API's bulk path, onto the configured bus."""
    from siyu.runtime import Runtime

    started = time.perf_counter()
    runtime = Runtime(settings, with_warehouse=False)
    await runtime.start(run_worker=False)
    try:
        if sources is None:
            with runtime.db.session() as session:
                sources = ensure_sources(session, settings.data_dir, CHANNELS)
        sim = Simulator(config)
        writer = TruthWriter(out_dir)
        try:
            delivery = await send_bulk(runtime, {ch: s.auth() for ch, s in sources.items()},
                                       _tracked(sim.events(), progress), on_event=writer.add)
        except BaseException:
            writer.abort()
            raise
        summary = _summary(sim, delivery, out_dir, {ch: s.source_id for ch, s in sources.items()},
                           time.perf_counter() - started)
        writer.finish(sim.identifiers(), summary)
        return summary
    finally:
        await runtime.stop()


def api_keys(settings: Settings) -> dict[str, str]:
    """Write keys of the simulator's sources in the configured database (created when missing)."""
    from siyu.kit.cli import cli_session

    with cli_session() as session:
        found = ensure_sources(session, settings.data_dir, CHANNELS)
    return {ch: s.write_key for ch, s in found.items()}


async def simulate_api(config: SimConfig, url: str, keys: dict[str, str], out_dir: Path, *,
                       progress: Progress | None = None, concurrency: int = 4) -> dict[str, Any]:
    """Generate and send through a running server's tracking API."""
    missing = [ch for ch in CHANNELS if ch not in keys]
    if missing:
        raise ValueError(f"no write key for {', '.join(missing)}")
    started = time.perf_counter()
    sim = Simulator(config)
    writer = TruthWriter(out_dir)
    try:
        delivery = await send_api(url, keys, _tracked(sim.events(), progress), on_event=writer.add,
                                  concurrency=concurrency)
    except BaseException:
        writer.abort()
        raise
    summary = _summary(sim, delivery, out_dir, {}, time.perf_counter() - started)
    summary["url"] = url
    writer.finish(sim.identifiers(), summary)
    return summary


def run_bulk(settings: Settings, config: SimConfig, out_dir: Path, *,
             sources: dict[str, SimSource] | None = None, progress: Progress | None = None) -> dict[str, Any]:
    return asyncio.run(simulate_bulk(settings, config, out_dir, sources=sources, progress=progress))
