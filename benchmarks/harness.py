"""What every benchmark needs: its own database, a `herald api` subprocess, and timing tables."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import psutil

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/herald_bench"
TOKEN = "bench"  # noqa: S105 - the throwaway API token of a benchmark server
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HERALD = Path(sys.executable).with_name("herald")


def bench_dsn() -> str:
    return os.environ.get("HERALD_BENCH_DATABASE_URL", DEFAULT_DSN)


def _with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _admin(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(_with_database(dsn, "postgres"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def fresh_database(database: str | None = None) -> AsyncIterator[str]:
    """Drops and recreates the benchmark database, migrates it, and drops it on the way out.

    Args:
        database: another name than the one in HERALD_BENCH_DATABASE_URL, on the same server.
    """
    dsn = bench_dsn() if database is None else _with_database(bench_dsn(), database)
    name = _quoted(urlsplit(dsn).path.lstrip("/"))
    await _admin(dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await _admin(dsn, f"CREATE DATABASE {name}")
    try:
        env = os.environ | {"HERALD_DATABASE_URL": dsn, "HERALD_LOG_LEVEL": "WARNING"}
        migrate = await asyncio.create_subprocess_exec(HERALD, "migrate", env=env)
        if await migrate.wait() != 0:
            raise RuntimeError("herald migrate failed")
        yield dsn
    finally:
        await _admin(dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Api:
    """A running `herald api` process: its base URL and its resource use."""

    def __init__(self, proc: asyncio.subprocess.Process, base: str) -> None:
        self.proc = proc
        self.base = base
        self.ps = psutil.Process(proc.pid)
        self.peak_rss_mb = 0.0

    def rss_mb(self) -> float:
        return self.ps.memory_info().rss / 2**20

    def cpu_seconds(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    @contextlib.asynccontextmanager
    async def sampling_rss(self, every: float = 0.02) -> AsyncIterator[None]:
        """Records the peak RSS (``peak_rss_mb``) while the block runs."""

        async def sample() -> None:
            while True:
                self.peak_rss_mb = max(self.peak_rss_mb, self.rss_mb())
                await asyncio.sleep(every)

        self.peak_rss_mb = self.rss_mb()
        task = asyncio.create_task(sample())
        try:
            yield
        finally:
            task.cancel()
            self.peak_rss_mb = max(self.peak_rss_mb, self.rss_mb())


async def _wait_healthy(proc: asyncio.subprocess.Process, base: str) -> None:
    async with asyncio.timeout(30), aiohttp.ClientSession() as http:
        while proc.returncode is None:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{base}/healthz") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"herald api exited with {proc.returncode}")


@contextlib.asynccontextmanager
async def running_api(dsn: str) -> AsyncIterator[Api]:
    """Starts `herald api` on a free port, waits for /healthz, and stops it on the way out."""
    port = free_port()
    env = os.environ | {
        "HERALD_DATABASE_URL": dsn,
        "HERALD_API_TOKEN": TOKEN,
        "HERALD_PORT": str(port),
        "HERALD_LOG_LEVEL": "WARNING",
    }
    proc = await asyncio.create_subprocess_exec(HERALD, "api", env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        await _wait_healthy(proc, base)
        yield Api(proc, base)
    finally:
        await _stop(proc)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 20)
    except TimeoutError:
        proc.kill()
        await proc.wait()


def latency_summary(seconds: Sequence[float]) -> tuple[float, float, float]:
    """(mean, p50, p99) in milliseconds."""
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    ms = 1000
    return statistics.fmean(seconds) * ms, statistics.median(seconds) * ms, cuts[98] * ms


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A GitHub-flavoured Markdown table, ready to paste into the README."""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    print(f"\n### {title}\n")
    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print(line(row))
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"\n{os.cpu_count()} CPUs; load average {load} as this table was printed\n", flush=True)
