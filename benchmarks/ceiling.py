"""The ceiling: only the raw work of a mailing, to measure Herald against.

One `INSERT … SELECT` fan-out, the ids published to RabbitMQ in batches of 100, two consumer
processes that POST each id to the same fake provider with aiohttp at the same concurrency as
Herald's workers, and one `UPDATE … FROM unnest` per batch. No scheduler, no leases, no
retries, no logs: whatever Herald adds is the price of its guarantees.

    python benchmarks/ceiling.py --clients 100000     # on its own; bench_dispatch.py calls run()
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

import aio_pika
import aiohttp
import asyncpg
import uvloop

import bench_dispatch
from harness import fresh_database

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
BATCH = 100
CONCURRENCY = 100
CONSUMERS = 2


async def provider_stats(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession(url) as http, http.get("/_stats") as r:
        stats: dict[str, float] = await r.json()
        return stats


async def _fan_out_and_publish(dsn: str, queue_name: str) -> tuple[int, float]:
    conn = await asyncpg.connect(dsn)
    began = time.time()
    mailing_id = await conn.fetchval(
        "INSERT INTO mailings (text, start_at, end_at) "
        "VALUES ('Ceiling', now(), now() + interval '1 hour') RETURNING id"
    )
    ids = [
        r["id"]
        for r in await conn.fetch(
            "INSERT INTO messages (mailing_id, client_id) SELECT $1, id FROM clients "
            "ON CONFLICT DO NOTHING RETURNING id",
            mailing_id,
        )
    ]
    fanout_s = time.time() - began
    await conn.close()
    connection = await aio_pika.connect(os.environ.get("HERALD_BENCH_AMQP_URL", AMQP_URL))
    async with connection:
        channel = await connection.channel()
        for i in range(0, len(ids), BATCH * 50):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(json.dumps(ids[j : j + BATCH]).encode()), queue_name
                    )
                    for j in range(i, min(i + BATCH * 50, len(ids)), BATCH)
                )
            )
    return mailing_id, fanout_s


async def consume(dsn: str, queue_name: str, provider: str, token: str) -> None:
    """One consumer process: POST every id of a batch, then one UPDATE for the batch."""
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=4)
    slots = asyncio.Semaphore(CONCURRENCY)
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(provider, connector=connector, headers=headers) as http:

        async def post(message_id: int) -> None:
            async with slots:
                body = {"id": message_id, "phone": 79000000000, "text": "Ceiling"}
                async with http.post(f"/v1/send/{message_id}", json=body) as r:
                    await r.read()

        async def handle(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            ids = json.loads(message.body)
            await asyncio.gather(*(post(i) for i in ids))
            await pool.execute(
                "UPDATE messages m SET status = 'sent', sent_at = now() "
                "FROM unnest($1::bigint[]) AS u(id) WHERE m.id = u.id",
                ids,
            )
            await message.ack()

        connection = await aio_pika.connect(os.environ.get("HERALD_BENCH_AMQP_URL", AMQP_URL))
        async with connection:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=2 * CONCURRENCY // BATCH)
            queue = await channel.get_queue(queue_name)
            await queue.consume(lambda m: asyncio.ensure_future(handle(m)))
            await asyncio.Future()  # until terminated


async def run(n: int) -> bench_dispatch.Run:
    result = bench_dispatch.Run("ceiling (raw work)", n)
    procs = bench_dispatch.Procs()
    queue_name = f"ceiling.{os.getpid()}"
    async with fresh_database("herald_bench_ceiling") as dsn:
        try:
            await bench_dispatch.seed_clients(dsn, n)
            await _declare(queue_name)
            async with bench_dispatch.fake_provider(procs) as provider:
                for i in range(CONSUMERS):
                    await _start_consumer(procs, i, dsn, queue_name, provider)
                await asyncio.sleep(2)
                await _measure(dsn, procs, queue_name, provider, n, result)
        finally:
            procs.sample()
            await procs.stop()
            await _delete(queue_name)
    result.peaks_mb = procs.peaks
    result.cpu_s = procs.cpu_used()
    return result


async def _measure(
    dsn: str,
    procs: bench_dispatch.Procs,
    queue_name: str,
    provider: str,
    n: int,
    result: bench_dispatch.Run,
) -> None:
    procs.mark()
    began = time.time()
    mailing_id, result.fanout_s = await _fan_out_and_publish(dsn, queue_name)
    conn = await asyncpg.connect(dsn)
    try:
        while (
            await conn.fetchval(
                "SELECT count(*) FROM messages WHERE mailing_id = $1 AND status = 'sent'",
                mailing_id,
            )
            < n
        ):
            procs.sample()
            await asyncio.sleep(0.2)
        result.p50_ms, result.p99_ms = await bench_dispatch.latencies(conn, mailing_id)
    finally:
        await conn.close()
    stats = await provider_stats(provider)
    result.rate = n / (stats["last_arrival"] - stats["first_arrival"])
    result.total_s = stats["last_arrival"] - began


async def _start_consumer(
    procs: bench_dispatch.Procs, i: int, dsn: str, queue_name: str, provider: str
) -> None:
    log = open(bench_dispatch.RESULTS / f"ceiling-{i}.log", "wb")  # noqa: SIM115, ASYNC230
    args = [__file__, "consume", dsn, queue_name, provider, bench_dispatch.PROVIDER_TOKEN]
    procs.procs[f"consumer-{i}"] = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=log, stderr=log
    )


async def _declare(queue_name: str) -> None:
    connection = await aio_pika.connect(os.environ.get("HERALD_BENCH_AMQP_URL", AMQP_URL))
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})


async def _delete(queue_name: str) -> None:
    connection = await aio_pika.connect(os.environ.get("HERALD_BENCH_AMQP_URL", AMQP_URL))
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(queue_name)


if __name__ == "__main__":
    if sys.argv[1:2] == ["consume"]:
        uvloop.run(consume(*sys.argv[2:6]))
    else:
        parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
        parser.add_argument("--clients", type=int, default=100_000)
        result = uvloop.run(run(parser.parse_args().clients))
        print(result)
