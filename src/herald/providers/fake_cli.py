"""The ``herald fake-provider`` command: the fake provider as a process of its own."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from dataclasses import fields

from herald.providers.fake import Faults, start_fake_provider

logger = logging.getLogger(__name__)


async def _serve(host: str, port: int, token: str | None, faults: Faults) -> None:
    fake = await start_fake_provider(host, port, token, faults)
    logger.info("fake provider listening", extra={"url": fake.url})
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
    finally:
        await fake.stop()
        logger.info("fake provider stopped", extra={"url": fake.url})


def run_fake_provider(host: str, port: int, token: str | None, faults: Faults) -> None:
    """Runs a fake provider until SIGINT or SIGTERM."""
    try:
        import uvloop  # the fake must keep up with the workers in benchmarks

        uvloop.run(_serve(host, port, token, faults))
    except ImportError:
        asyncio.run(_serve(host, port, token, faults))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds `--host`, `--port`, `--token` and one option per `Faults` field."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=9090, help="port to listen on")
    parser.add_argument("--token", default=None, help="bearer token to require (default: none)")
    for fault in fields(Faults):
        flag = "--" + fault.name.replace("_", "-")
        if isinstance(fault.default, bool):
            parser.add_argument(flag, action="store_true", help=fault.metadata["help"])
        else:
            kind = type(fault.default)
            parser.add_argument(flag, type=kind, default=fault.default, help=fault.metadata["help"])


def main_from_args(args: argparse.Namespace) -> None:
    """Runs the fake provider the command line describes (see `add_arguments`)."""
    try:
        faults = Faults(**{fault.name: getattr(args, fault.name) for fault in fields(Faults)})
    except ValueError as exc:
        raise SystemExit(f"herald fake-provider: {exc}") from exc
    run_fake_provider(args.host, args.port, args.token, faults)
