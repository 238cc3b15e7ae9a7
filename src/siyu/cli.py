"""The ``siyu`` command."""

from __future__ import annotations

import asyncio
import signal

import typer

from siyu.auth.cli import app as tokens_app
from siyu.config import Settings
from siyu.logs import configure as configure_logs
from siyu.sources.cli import app as sources_app

app = typer.Typer(help="Siyu (私域): one backend for a brand's mini-program, website and APP.",
                  no_args_is_help=True)
app.add_typer(sources_app, name="sources")
app.add_typer(tokens_app, name="tokens")
db_app = typer.Typer(help="The operational database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    port: int = typer.Option(8000),
    worker: bool = typer.Option(True, "--worker/--no-worker", help="Run the event-store worker in this process"),
) -> None:
    """Serve the tracking API and the platform API (and, embedded, the worker)."""
    import uvicorn

    from siyu.app import create_app

    settings = Settings()
    configure_logs(settings.log_level, settings.log_json)
    uvicorn.run(
        create_app(settings, run_worker=worker),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=10,
    )


@app.command("worker")
def worker_cmd(consumers: int = typer.Option(1, min=1, help="Concurrent consumers in this process")) -> None:
    """Consume the bus and write events to the event store (server runtime; run several)."""
    from siyu.runtime import Runtime

    settings = Settings()
    configure_logs(settings.log_level, settings.log_json)

    async def main() -> None:
        runtime = Runtime(settings)
        await runtime.start(run_worker=False)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        assert runtime.worker is not None
        try:
            await runtime.worker.run(stop, consumers=consumers)
        finally:
            await runtime.stop()

    asyncio.run(main())


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
