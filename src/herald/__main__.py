"""The ``herald`` command: serve, api, scheduler, worker, migrate, fake-provider."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from herald import embedded, logs
from herald.config import Settings
from herald.resources import open_resources

logger = logging.getLogger("herald")


def _dsn(settings: Settings) -> str:
    if settings.database_url is None:
        sys.exit("HERALD_DATABASE_URL is required for this command (herald serve has a default)")
    return settings.database_url.get_secret_value()


def _require_broker(settings: Settings) -> None:
    """Parts that run as separate processes meet only through RabbitMQ."""
    _dsn(settings)
    if settings.amqp_url is None:
        sys.exit("HERALD_AMQP_URL is required for this command (herald serve has a default)")


async def _migrate(settings: Settings) -> None:
    from herald.storage.migrate import migrate

    applied = await migrate(_dsn(settings), settings.migrations_dir)
    logger.info("migrations up to date", extra={"applied": applied})


async def _serve_api(settings: Settings, *, with_pipeline: bool) -> None:
    import uvicorn

    from herald import pipeline
    from herald.api.app import create_app

    await _migrate(settings)
    app = create_app(settings, background=pipeline.running if with_pipeline else None)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace),
    )
    await uvicorn.Server(config).serve()


async def _serve(settings: Settings) -> None:
    async with embedded.provider(settings) as settings:
        _announce(settings)
        await _serve_api(settings, with_pipeline=True)


def _announce(settings: Settings) -> None:
    base = f"http://{settings.host}:{settings.port}"
    token = settings.api_token.get_secret_value() if settings.api_token else ""
    print(  # noqa: T201 - the operator needs these on the terminal, whatever the log format
        f"\nHerald is starting.\n  UI:      {base}/\n  API:     {base}/docs  and  {base}/redoc\n"
        f"  Token:   {token}  (kept in {embedded.token_file(settings)})\n",
        flush=True,
    )


async def _until_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def _scheduler(settings: Settings) -> None:
    from herald.scheduler import service

    _require_broker(settings)
    async with (
        open_resources(settings, provider=False, name="herald scheduler") as res,
        service.running(res.pool, res.queue, settings),
    ):
        await _until_signal()


async def _worker(settings: Settings) -> None:
    from herald.dispatch import service

    _require_broker(settings)
    async with (
        open_resources(settings, provider=True, name="herald worker", generic_plans=True) as res,
        service.running(res),
    ):
        await _until_signal()


def _run(coro: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop

        uvloop.run(coro)
    except ImportError:
        asyncio.run(coro)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="herald", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="everything in one process, with embedded defaults")
    commands.add_parser("api", help="the HTTP API and admin UI")
    commands.add_parser("scheduler", help="fan-out, enqueue, rescue, expiry")
    commands.add_parser("worker", help="claims batches and sends them through the provider")
    commands.add_parser("migrate", help="applies pending database migrations")
    from herald.providers import fake_cli as fake

    fake.add_arguments(commands.add_parser("fake-provider", help="a provider double with faults"))
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "fake-provider":
        from herald.providers import fake_cli as fake

        logs.configure("auto", "INFO")
        fake.main_from_args(args)
        return
    settings = Settings()
    logs.configure(settings.log_format, settings.log_level)
    if args.command == "serve":
        with embedded.database(settings) as with_db:
            _run(_serve(embedded.api_token(with_db)))
    elif args.command == "api":
        _dsn(settings)
        _run(_serve_api(settings, with_pipeline=False))
    elif args.command == "scheduler":
        _run(_scheduler(settings))
    elif args.command == "worker":
        _run(_worker(settings))
    else:
        _run(_migrate(settings))


if __name__ == "__main__":
    main()
