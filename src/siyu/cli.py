"""The ``siyu`` command."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from pathlib import Path

import typer

from siyu.auth.cli import app as tokens_app
from siyu.config import Settings
from siyu.logs import configure as configure_logs
from siyu.simulate.cli import simulate
from siyu.sources.cli import app as sources_app
from siyu.worker.warehouse import GROUP

app = typer.Typer(help="Siyu (私域): one backend for a brand's mini-program, website and APP.",
                  no_args_is_help=True)
app.add_typer(sources_app, name="sources")
app.add_typer(tokens_app, name="tokens")
db_app = typer.Typer(help="The operational database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.command("simulate")(simulate)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    port: int = typer.Option(8000),
    worker: bool = typer.Option(
        True, "--worker/--no-worker", help="Run the event-store worker in this process"
    ),
) -> None:
    """Serve the tracking API and the platform API (and, embedded, the worker)."""
    import uvicorn

    from siyu.app import create_app
    from siyu.warehouse.factory import warehouse_is_exclusive

    settings = Settings()
    configure_logs(settings.log_level, settings.log_json)
    # A DuckDB file or a chdb directory can be open in one process only: with --no-worker it is left to
    # the `siyu worker` process (and the query API here answers 503).
    with_warehouse = worker or not warehouse_is_exclusive(settings)
    child = None
    if worker and warehouse_is_exclusive(settings) and settings.worker_process:
        # The store's file belongs to one process: the worker runs as a child that owns it, off this
        # process's event loop, and the query API reaches it through a local socket.
        from siyu.worker.child import WorkerChild

        child = WorkerChild(settings)
        child.start()
    # Objects alive at start-up never become garbage; keeping them out of collections and collecting the
    # young generation less often trims latency spikes under load.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    asgi_app = (
        create_app(settings, run_worker=False, warehouse=child.remote)
        if child is not None
        else create_app(settings, run_worker=worker, with_warehouse=with_warehouse)
    )
    try:
        uvicorn.run(
            asgi_app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            loop="uvloop",
            http="httptools",
            timeout_graceful_shutdown=10,
        )
    finally:
        if child is not None:
            child.stop()


@app.command("worker")
def worker_cmd(
    consumers: int = typer.Option(1, min=1, help="Concurrent consumers in this process"),
    query_socket: Path | None = typer.Option(
        None, help="Also answer read-only queries on this Unix socket (used by `siyu serve`)", hidden=True
    ),
    release_leases: bool = typer.Option(
        False, help="Embedded bus: take back at once what a killed predecessor had leased", hidden=True
    ),
) -> None:
    """Consume the bus and write events to the event store (server runtime; run several)."""
    from siyu.runtime import Runtime

    settings = Settings()
    configure_logs(settings.log_level, settings.log_json)

    async def main() -> None:
        runtime = Runtime(settings)
        await runtime.start(run_worker=False)
        assert runtime.worker is not None and runtime.warehouse is not None
        if release_leases and runtime.embedded:
            from siyu.bus.sqlite import SqliteBus
            from siyu.bus.sqlite import release_leases as release

            assert isinstance(runtime.bus, SqliteBus)
            release(runtime.bus, GROUP)
        server = None
        if query_socket is not None:
            from siyu.warehouse.remote import QueryServer
            from siyu.worker.child import AUTHKEY_ENV

            server = QueryServer(runtime.warehouse, query_socket, bytes.fromhex(os.environ[AUTHKEY_ENV]))
            server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await runtime.worker.run(stop, consumers=consumers)
        finally:
            if server is not None:
                server.close()
            await runtime.stop()

    asyncio.run(main())


@app.command()
def demo(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    port: int = typer.Option(8000),
    people: int = typer.Option(10_000, min=1, help="People in the simulated brand (first run only)"),
    days: int = typer.Option(90, min=1, help="Days of history (first run only)"),
    seed: int = typer.Option(42, help="Simulation seed (first run only)"),
) -> None:
    """Load a simulated brand into the data directory (once), then serve it and say what to try."""
    from siyu.simulate.cli import day_progress, err, parse_end_date
    from siyu.simulate.demo import banner, load_demo, prepare_demo
    from siyu.simulate.model import SimConfig

    settings = Settings()
    info = load_demo(settings)
    if info is None:
        config = SimConfig(people=people, days=days, seed=seed, end_date=parse_end_date(None))
        err.print(f"Loading the demo brand ({people:,} people, {days} days) into {settings.data_dir} ...")
        with day_progress(days, enabled=True, label="loading") as progress:
            info = prepare_demo(settings, config, progress)
        if info["delivery"]["rejected"]:
            err.print(f"[red]{info['delivery']['rejected']} demo messages were rejected[/red]")
    else:
        err.print(f"Reusing the demo loaded on {info['created_at']} ({settings.data_dir / 'demo.json'}).")
    print(banner(info, host, port, settings.data_dir), flush=True)
    serve(host=host, port=port, worker=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations."""
    from siyu.migrate import upgrade

    settings = Settings()
    settings.ensure_data_dir()
    upgrade(settings.resolved_database_url(), revision)
    print("database is at", revision)


@db_app.command("current")
def db_current() -> None:
    """Show the applied migration."""
    from siyu.migrate import current

    print(current(Settings().resolved_database_url()))


def main() -> None:
    app()
