"""Herald's API benchmarks: CSV import, statistics reads, concurrent client creation.

Each part creates its own database, migrates it, starts `herald api` beside it, prints a
Markdown table, and drops the database at the end:

    python benchmarks/bench_api.py import --rows 100000 1000000
    python benchmarks/bench_api.py stats --messages 10000000 --mailings 100
    python benchmarks/bench_api.py create --requests 20000 --concurrency 50
    python benchmarks/bench_api.py all      # the three at the sizes above
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Awaitable, Callable

import aiohttp
import asyncpg
import uvloop

import seeding
from harness import AUTH, Api, fresh_database, latency_summary, print_table, running_api

CODES = ("900", "901", "916", "926", "999")
TAGS = ("", "vip", "new")
ZONES = ("UTC", "Europe/Moscow", "Asia/Yekaterinburg", "Asia/Vladivostok")
NO_TIMEOUT = aiohttp.ClientTimeout(total=None)


def unique_phones(n: int, seed: int) -> list[str]:
    """``n`` distinct phones ``7XXXXXXXXXX`` in random order."""
    return [f"7{x:010d}" for x in random.Random(seed).sample(range(10**10), n)]


def client_csv(n: int) -> bytes:
    lines = ["phone,operator_code,tag,timezone"]
    for i, phone in enumerate(unique_phones(n, seed=n)):
        lines.append(f"{phone},{CODES[i % 5]},{TAGS[i % 3]},{ZONES[i % 4]}")
    return ("\n".join(lines) + "\n").encode()


# --- a. CSV import -------------------------------------------------------------------------


async def _probe(http: aiohttp.ClientSession, latencies: list[float]) -> None:
    """GETs /healthz every 50 ms: a long answer means the API's event loop was blocked."""
    while True:
        began = time.perf_counter()
        async with http.get("/healthz") as r:
            await r.read()
        latencies.append(time.perf_counter() - began)
        await asyncio.sleep(0.05)


async def _import_once(api: Api, body: bytes) -> tuple[float, dict[str, object], float]:
    """Returns the seconds taken, the import report, and the longest /healthz answer (ms)."""
    headers = AUTH | {"Content-Type": "text/csv"}
    probes: list[float] = []
    async with aiohttp.ClientSession(api.base, timeout=NO_TIMEOUT) as http, api.sampling_rss():
        probe = asyncio.create_task(_probe(http, probes))
        began = time.perf_counter()
        async with http.post("/api/v1/clients/import", data=body, headers=headers) as r:
            report = await r.json()
            elapsed = time.perf_counter() - began
        probe.cancel()
    if r.status != 200:
        raise RuntimeError(f"import answered {r.status}: {report}")
    return elapsed, report, max(probes) * 1000


async def bench_import(sizes: list[int]) -> None:
    rows = []
    for n in sizes:
        body = client_csv(n)
        async with fresh_database() as dsn, running_api(dsn) as api:
            idle = api.rss_mb()
            elapsed, report, stall = await _import_once(api, body)
        if report["created"] != n or report["errors"]:
            raise RuntimeError(f"import of {n} rows reported {str(report)[:300]}")
        rows.append(
            (f"{n:,}", f"{len(body) / 2**20:.1f}", f"{elapsed:.2f}", f"{n / elapsed:,.0f}",
             f"{idle:.0f}", f"{api.peak_rss_mb:.0f}", f"{stall:,.0f}")
        )  # fmt: skip
    print_table(
        "CSV import: POST /api/v1/clients/import into an empty directory",
        ("rows", "body MiB", "seconds", "rows/s", "API RSS idle MiB", "API RSS peak MiB",
         "longest /healthz ms"),
        rows,
    )  # fmt: skip


# --- b. statistics reads -------------------------------------------------------------------


async def _timed_gets(http: aiohttp.ClientSession, paths: list[str], warmup: int) -> list[float]:
    """GETs each path in turn, one at a time; returns the latencies after the warm-up."""
    latencies = []
    for i, path in enumerate(paths):
        began = time.perf_counter()
        async with http.get(path) as r:
            await r.read()
        if r.status != 200:
            raise RuntimeError(f"GET {path} answered {r.status}")
        if i >= warmup:
            latencies.append(time.perf_counter() - began)
    return latencies


async def _stats_requests(api: Api, mailing_ids: list[int], requests: int) -> list[list[object]]:
    warmup = 20
    cycle = [mailing_ids[i % len(mailing_ids)] for i in range(requests + warmup)]
    cases = {
        "GET /api/v1/stats": ["/api/v1/stats"] * (requests + warmup),
        "GET /api/v1/mailings/{id}/stats": [f"/api/v1/mailings/{m}/stats" for m in cycle],
        "GET /api/v1/mailings/{id}/stats?status=failed": [
            f"/api/v1/mailings/{m}/stats?status=failed" for m in cycle
        ],
    }
    rows: list[list[object]] = []
    async with aiohttp.ClientSession(api.base, headers=AUTH) as http:
        for name, paths in cases.items():
            mean, p50, p99 = latency_summary(await _timed_gets(http, paths, warmup))
            rows.append([name, requests, f"{mean:.1f}", f"{p50:.1f}", f"{p99:.1f}"])
    return rows


async def bench_stats(messages: int, mailings: int, requests: int) -> None:
    async with fresh_database() as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            mailing_ids = await seeding.seed(conn, messages, mailings)
            await seeding.check_counters(conn, messages)
            sql_rows = await seeding.time_counts(conn, mailing_ids)
        finally:
            await conn.close()
        async with running_api(dsn) as api:
            http_rows = await _stats_requests(api, mailing_ids, requests)
    header = ("what", "runs", "mean ms", "p50 ms", "p99 ms")
    size = f"{messages:,} messages in {mailings} mailings"
    print_table(f"Counters against a recount, SQL only ({size})", header, sql_rows)
    print_table(f"Statistics over HTTP, sequential requests ({size})", header, http_rows)


# --- c. concurrent client creation ---------------------------------------------------------


async def _create_load(
    http: aiohttp.ClientSession, phones: list[str], concurrency: int
) -> tuple[list[float], int]:
    """POSTs one client per phone, ``concurrency`` in flight; returns latencies and failures."""
    latencies: list[float] = []
    failures = 0
    todo = iter(enumerate(phones))

    async def one_connection() -> None:
        nonlocal failures
        for i, phone in todo:
            body = {"phone": phone, "tag": TAGS[i % 3], "timezone": ZONES[i % 4]}
            began = time.perf_counter()
            async with http.post("/api/v1/clients", json=body) as r:
                await r.read()
            latencies.append(time.perf_counter() - began)
            failures += r.status != 201

    await asyncio.gather(*(one_connection() for _ in range(concurrency)))
    return latencies, failures


async def bench_create(requests: int, concurrency: int) -> None:
    warmup = min(1000, requests)
    phones = unique_phones(requests + warmup, seed=requests)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with (
        fresh_database() as dsn,
        running_api(dsn) as api,
        aiohttp.ClientSession(api.base, headers=AUTH, connector=connector) as http,
    ):
        await _create_load(http, phones[:warmup], concurrency)
        cpu, began = api.cpu_seconds(), time.perf_counter()
        latencies, failures = await _create_load(http, phones[warmup:], concurrency)
        elapsed = time.perf_counter() - began
        api_cpu = (api.cpu_seconds() - cpu) / elapsed * 100
    if failures:
        raise RuntimeError(f"{failures} of {requests} POST /api/v1/clients did not answer 201")
    mean, p50, p99 = latency_summary(latencies)
    print_table(
        "Client creation: POST /api/v1/clients with a fixed number in flight",
        (
            "requests",
            "in flight",
            "seconds",
            "requests/s",
            "mean ms",
            "p50 ms",
            "p99 ms",
            "API CPU %",
        ),
        [
            (
                f"{requests:,}",
                concurrency,
                f"{elapsed:.1f}",
                f"{requests / elapsed:,.0f}",
                f"{mean:.1f}",
                f"{p50:.1f}",
                f"{p99:.1f}",
                f"{api_cpu:.0f}",
            )
        ],
    )


# --- command line --------------------------------------------------------------------------


async def bench_all(_: argparse.Namespace) -> None:
    await bench_import([100_000, 1_000_000])
    await bench_stats(10_000_000, 100, 200)
    await bench_create(20_000, 50)


COMMANDS: dict[str, Callable[[argparse.Namespace], Awaitable[None]]] = {
    "import": lambda a: bench_import(a.rows),
    "stats": lambda a: bench_stats(a.messages, a.mailings, a.requests),
    "create": lambda a: bench_create(a.requests, a.concurrency),
    "all": bench_all,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="CSV import rows/s")
    imp.add_argument("--rows", type=int, nargs="+", default=[100_000])
    stats = sub.add_parser("stats", help="GET /stats and /mailings/{id}/stats latency")
    stats.add_argument("--messages", type=int, default=10_000_000)
    stats.add_argument("--mailings", type=int, default=100)
    stats.add_argument("--requests", type=int, default=200)
    create = sub.add_parser("create", help="POST /clients under concurrency")
    create.add_argument("--requests", type=int, default=20_000)
    create.add_argument("--concurrency", type=int, default=50)
    sub.add_parser("all", help="all of the above at the foundation issue's sizes")
    return parser


def main() -> None:
    args = _parser().parse_args()
    uvloop.run(COMMANDS[args.command](args))


if __name__ == "__main__":
    main()
