"""The ``siyu`` command."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from siyu.analytics.cli import report as report_app
from siyu.auth.cli import app as tokens_app
from siyu.config import Settings
from siyu.identity.cli import app as identity_app
from siyu.imports.cli import app as import_app
from siyu.logs import configure as configure_logs
from siyu.profiles.cli import app as persons_app
from siyu.promotions.referral.cli import app as referral_app
from siyu.simulate.cli import simulate
from siyu.sources.cli import app as sources_app

app = typer.Typer(help="Siyu (私域): one backend for a brand's mini-program, website and APP.",
                  no_args_is_help=True)
app.add_typer(sources_app, name="sources")
app.add_typer(tokens_app, name="tokens")
app.add_typer(identity_app, name="identity")
app.add_typer(persons_app, name="persons")
app.add_typer(import_app, name="import")
app.add_typer(report_app, name="report")
app.add_typer(referral_app, name="referral")
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
    processes: int = typer.Option(1, min=1, max=64, help="API processes sharing the port (one per core)"),
) -> None:
    """Serve the tracking API and the platform API (and, embedded, the worker)."""
    from siyu.app import create_app
    from siyu.warehouse.factory import warehouse_is_exclusive

    settings = Settings()
    configure_logs(settings.log_level, settings.log_json)
    # A DuckDB file or a chdb directory can be open in one process only: with --no-worker it is left to
    # the `siyu worker` process (and the query API here answers 503).
    with_warehouse = worker or not warehouse_is_exclusive(settings)
    child = None
    if worker and warehouse_is_exclusive(settings) and (settings.worker_process or processes > 1):
        # The store's file belongs to one process: the worker runs as a child that owns it, off this
        # process's event loop, and the query API reaches it through a local socket.
        from siyu.worker.child import WorkerChild

        child = WorkerChild(settings)
        child.start()

    def make_app() -> Any:
        if child is not None:
            return create_app(settings, run_worker=False, warehouse=child.new_remote())
        # Several API processes on the server runtime: the workers run as `siyu worker`, not in each of them.
        return create_app(settings, run_worker=worker and processes == 1, with_warehouse=with_warehouse)

    try:
        if processes == 1:
            _serve_one(make_app(), host, port)
        else:
            _serve_many(make_app, host, port, processes)
    finally:
        if child is not None:
            child.stop()


def _uvicorn_config(app_: Any, host: str, port: int) -> Any:
    import uvicorn

    return uvicorn.Config(app_, host=host, port=port, log_config=None, access_log=False, loop="uvloop",
                          http="httptools", timeout_graceful_shutdown=10)


def _quiet_gc() -> None:
    # Objects alive at start-up never become garbage; keeping them out of collections and collecting the
    # young generation less often trims latency spikes under load.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def _serve_one(app_: Any, host: str, port: int) -> None:
    import uvicorn

    _quiet_gc()
    uvicorn.Server(_uvicorn_config(app_, host, port)).run()


def _serve_many(make_app: Callable[[], Any], host: str, port: int, processes: int) -> None:
    """One listening socket, ``processes`` forked servers accepting on it (the kernel spreads connections).
    API processes share nothing but the operational database, the bus and (embedded) the worker's socket;
    each builds its own app after the fork. They die with this process."""
    import ctypes
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    children = []
    for _ in range(processes - 1):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                if sys.platform.startswith("linux"):
                    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
                _quiet_gc()
                uvicorn.Server(_uvicorn_config(make_app(), host, port)).run(sockets=[sock])
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    try:
        _quiet_gc()
        uvicorn.Server(_uvicorn_config(make_app(), host, port)).run(sockets=[sock])
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        sock.close()


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
            runtime.release_leases()
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
            await runtime.run_workers(stop, consumers=consumers)
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
    serve(host=host, port=port, worker=True, processes=1)


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
