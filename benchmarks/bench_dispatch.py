"""The dispatch benchmark: one mailing to every client, end to end, beside a ceiling.

For each size and queue backend it seeds the clients, starts the fake provider (answering at
once) and Herald's processes, creates one mailing active now, and measures:

- fan-out seconds (mailing created → every message row written),
- end-to-end messages/s (first request at the provider → last one),
- the whole run (mailing created → last request),
- p50/p99 from message creation to `sent` (the write after the provider's answer),
- the peak RSS of every process.

With RabbitMQ Herald runs as `herald scheduler` + two `herald worker`; with the in-process
queue as one `herald serve`. Per-message log records stay on (INFO, JSON, to a file). Then
`ceiling.py` does only the raw work on the same machine, and the table gives Herald's
throughput as a fraction of it:

    python benchmarks/bench_dispatch.py --clients 100000 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import psutil
import uvloop

import ceiling
from harness import HERALD, TOKEN, free_port, fresh_database, print_table

PROVIDER_TOKEN = "bench-provider"  # noqa: S105 - a throwaway token of the local fake
RESULTS = Path(__file__).with_name("results")


@dataclasses.dataclass
class Run:
    label: str
    clients: int
    fanout_s: float = 0.0
    total_s: float = 0.0
    rate: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    peaks_mb: dict[str, float] = dataclasses.field(default_factory=dict)
    cpu_s: dict[str, float] = dataclasses.field(default_factory=dict)


# The shared servers whose CPU a run also uses, by process name.
SERVICES = {"postgres": "postgres", "beam.smp": "rabbitmq"}


class Procs:
    """Subprocesses of one run, their peak RSS and CPU seconds sampled until they stop, and
    the CPU the PostgreSQL and RabbitMQ servers used meanwhile (every process of theirs seen,
    from its first sample to its last)."""

    def __init__(self) -> None:
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.peaks: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._seen: dict[int, tuple[str, float, float]] = {}
        self._own_start: dict[str, float] = {}

    def mark(self) -> None:
        """Counts CPU from here: the processes are up and the database is seeded."""
        self.sample()
        self._own_start = dict(self.cpu)
        self._seen.clear()
        self._sample_services()

    async def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = open(RESULTS / f"{name}.log", "wb")  # noqa: SIM115, ASYNC230 - the child keeps it
        self.procs[name] = await asyncio.create_subprocess_exec(
            HERALD, *args, env=os.environ | env, stdout=log, stderr=log
        )

    def sample(self) -> None:
        for name, proc in self.procs.items():
            with contextlib.suppress(psutil.Error):
                ps = psutil.Process(proc.pid)
                self.peaks[name] = max(self.peaks.get(name, 0.0), ps.memory_info().rss / 2**20)
                times = ps.cpu_times()
                self.cpu[name] = times.user + times.system
        self._sample_services()

    def _sample_services(self) -> None:
        for ps in psutil.process_iter(["name", "cpu_times"]):
            service = SERVICES.get(ps.info["name"] or "")
            if service is None or ps.info["cpu_times"] is None:
                continue
            used = ps.info["cpu_times"].user + ps.info["cpu_times"].system
            _, first, _ = self._seen.get(ps.pid, (service, used, used))
            self._seen[ps.pid] = (service, first, used)

    def cpu_used(self) -> dict[str, float]:
        """CPU seconds since ``mark``, of each subprocess and of each shared server."""
        used = {name: t - self._own_start.get(name, 0.0) for name, t in self.cpu.items()}
        for service, first, last in self._seen.values():
            used[service] = used.get(service, 0.0) + last - first
        return used

    async def stop(self) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()


@contextlib.asynccontextmanager
async def fake_provider(procs: Procs) -> AsyncIterator[str]:
    port = free_port()
    args = ["fake-provider", "--port", str(port), "--token", PROVIDER_TOKEN]
    await procs.start("fake-provider", args, {"HERALD_LOG_LEVEL": "WARNING"})
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(url) as http:
        for _ in range(100):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get("/_stats"):
                    break
            await asyncio.sleep(0.1)
    yield url


async def seed_clients(dsn: str, n: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO clients (phone, operator_code, tag) "
            "SELECT '7' || lpad(i::text, 10, '0'), '900', 'bench' FROM generate_series(1, $1) i",
            n,
        )
        await conn.execute("ANALYZE clients")
    finally:
        await conn.close()


async def start_herald(procs: Procs, backend: str, dsn: str, provider: str) -> None:
    env = {
        "HERALD_DATABASE_URL": dsn,
        "HERALD_PROVIDER_URL": provider,
        "HERALD_PROVIDER_TOKEN": PROVIDER_TOKEN,
        "HERALD_LOG_FORMAT": "json",
        "HERALD_LOG_LEVEL": "INFO",
        "HERALD_BATCH_SIZE": "100",
    }
    if backend == "memory":
        env |= {"HERALD_API_TOKEN": TOKEN, "HERALD_PORT": str(free_port())}
        await procs.start("serve", ["serve"], env)
        return
    env |= {
        "HERALD_AMQP_URL": os.environ.get("HERALD_BENCH_AMQP_URL", ceiling.AMQP_URL),
        "HERALD_QUEUE_NAME": f"bench.{os.getpid()}",
    }
    await procs.start("scheduler", ["scheduler"], env)
    await procs.start("worker-1", ["worker"], env)
    await procs.start("worker-2", ["worker"], env)


async def run_mailing(dsn: str, procs: Procs, n: int, provider: str, run: Run) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        procs.mark()
        began = time.time()
        mailing_id = await conn.fetchval(
            "INSERT INTO mailings (text, start_at, end_at) "
            "VALUES ('Benchmark', now(), now() + interval '1 hour') RETURNING id"
        )
        await conn.execute("NOTIFY herald_wake")
        run.fanout_s = await _wait_done(conn, procs, mailing_id, n, began)
        stats = await ceiling.provider_stats(provider)
        run.rate = n / (stats["last_arrival"] - stats["first_arrival"])
        run.total_s = stats["last_arrival"] - began
        run.p50_ms, run.p99_ms = await latencies(conn, mailing_id)
    finally:
        await conn.close()


async def _wait_done(
    conn: asyncpg.Connection, procs: Procs, mailing_id: int, n: int, began: float
) -> float:
    fanout_s = 0.0
    while True:
        procs.sample()
        row = await conn.fetchrow(
            "SELECT g.fanout_done, coalesce(sum(c.n) FILTER (WHERE c.status = 'sent'), 0) AS sent,"
            " coalesce(sum(c.n), 0) AS total FROM mailings g"
            " LEFT JOIN message_counts c ON c.mailing_id = g.id WHERE g.id = $1 GROUP BY 1",
            mailing_id,
        )
        if row["fanout_done"] and not fanout_s and row["total"] >= n:
            fanout_s = time.time() - began
        if row["sent"] >= n:
            return fanout_s
        await asyncio.sleep(0.1)


async def latencies(conn: asyncpg.Connection, mailing_id: int) -> tuple[float, float]:
    row = await conn.fetchrow(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d) * 1000 AS p50,"
        " percentile_cont(0.99) WITHIN GROUP (ORDER BY d) * 1000 AS p99 FROM"
        " (SELECT extract(epoch FROM sent_at - created_at) AS d FROM messages"
        "  WHERE mailing_id = $1) AS t",
        mailing_id,
    )
    return float(row["p50"]), float(row["p99"])


async def herald_run(backend: str, n: int) -> Run:
    run = Run(f"Herald, {'RabbitMQ' if backend == 'rabbitmq' else 'in-process queue'}", n)
    procs = Procs()
    async with fresh_database("herald_bench_dispatch") as dsn:
        try:
            await seed_clients(dsn, n)
            async with fake_provider(procs) as provider:
                await start_herald(procs, backend, dsn, provider)
                await asyncio.sleep(2)  # processes up, migrations checked
                await run_mailing(dsn, procs, n, provider, run)
        finally:
            procs.sample()
            await procs.stop()
    run.peaks_mb = procs.peaks
    run.cpu_s = procs.cpu_used()
    return run


async def main(sizes: list[int], backends: list[str], with_ceiling: bool) -> None:
    RESULTS.mkdir(exist_ok=True)
    rows = []
    for n in sizes:
        limit = await ceiling.run(n) if with_ceiling else None
        if limit is not None:
            rows.append(_row(limit, limit.rate))
        for backend in backends:
            rows.append(_row(await herald_run(backend, n), limit.rate if limit else None))
            print_table("dispatch (so far)", HEADER, rows)
    print_table("dispatch: one mailing to every client", HEADER, rows)


HEADER = (
    "run",
    "clients",
    "fan-out s",
    "first→last msg/s",
    "% of ceiling",
    "created→last s",
    "p50 ms",
    "p99 ms",
    "peak RSS MB by process",
    "CPU s by process",
)


def _row(run: Run, ceiling_rate: float | None) -> tuple[object, ...]:
    peaks = ", ".join(f"{k} {v:.0f}" for k, v in sorted(run.peaks_mb.items()))
    cpu = ", ".join(f"{k} {v:.0f}" for k, v in sorted(run.cpu_s.items()))
    return (
        run.label,
        f"{run.clients:,}",
        f"{run.fanout_s:.1f}",
        f"{run.rate:,.0f}",
        f"{100 * run.rate / ceiling_rate:.0f} %" if ceiling_rate else "-",
        f"{run.total_s:.1f}",
        f"{run.p50_ms:,.0f}",
        f"{run.p99_ms:,.0f}",
        peaks,
        cpu,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queue", choices=["rabbitmq", "memory", "both"], default="both")
    parser.add_argument(
        "--no-ceiling", action="store_true", help="Herald only (profiling); no % of ceiling"
    )
    args = parser.parse_args()
    backends = ["rabbitmq", "memory"] if args.queue == "both" else [args.queue]
    sys.exit(uvloop.run(main(args.clients, backends, not args.no_ceiling)))
