"""Scenarios 14, 15: every broker message published twice, and poison on the queue."""

from __future__ import annotations

import asyncio
import collections
import sys
import time
from collections.abc import Callable

import aio_pika
import asyncpg

from tests import services
from tests.faults import cluster as harness
from tests.faults.checker import Expect, Report, check

MALFORMED = [
    b"not json",
    b"\xff\xfe",
    b"[1, 2, 3]",
    b'{"ids": []}',
    b'{"ids": ["1"]}',
    b'{"ids": [0]}',
    b'{"ids": [true]}',
    b'{"ids": [9223372036854775808]}',
    b'{"id": [1]}',
    b"[" * 100_000,
]


async def test_14_every_broker_message_published_twice(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    api = await cluster.start_api()
    for _ in range(2):
        await cluster.start("scheduler", sys.executable, "-m", "tests.faults.twice", "scheduler")
    for _ in range(3):
        await cluster.start("worker")
    began = time.time()
    mailing = await harness.create_mailing(api, end_in=300)
    await harness.settled(pool, mailing["id"], harness.MESSAGES, within=harness.SETTLE)
    log = await fake.log()
    report = await check(
        "14 every broker message published twice",
        pool,
        log,
        [Expect(mailing["id"])],
        api,
        started_at=began,
    )
    most = max(collections.Counter(e["id"] for e in log).values())
    published = sum(p.log_lines("published twice") for p in cluster.alive("scheduler"))
    report.notes = f"batches published twice: {published}; most requests for one message: {most}"
    record(report)
    assert report.violations == []
    assert published > 0
    assert most == 1
    assert (report.lost, report.duplicates, report.late) == (0, 0, 0)


async def test_15_malformed_messages_on_the_queue(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    await fake.control(latency=0.02)
    api = await cluster.start_all(workers=2)
    began = time.time()
    mailing = await harness.create_mailing(api, end_in=300)
    await harness.until(lambda: _sent_at_least(pool, mailing["id"], 1000), 30, "sending")
    connection = await aio_pika.connect(services.AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        for body in MALFORMED:
            message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await channel.default_exchange.publish(message, routing_key=cluster.queue_name)
        await harness.settled(pool, mailing["id"], harness.MESSAGES, within=harness.SETTLE)
        dead = await channel.declare_queue(f"{cluster.queue_name}.dead", passive=True)
        for _ in range(50):  # the last rejections may still be on their way
            if (dead.declaration_result.message_count or 0) >= len(MALFORMED):
                break
            await asyncio.sleep(0.1)
            dead = await channel.declare_queue(f"{cluster.queue_name}.dead", passive=True)
        dead_letters = dead.declaration_result.message_count
    report = await check(
        f"15 {len(MALFORMED)} malformed broker messages mid-mailing",
        pool,
        await fake.log(),
        [Expect(mailing["id"])],
        api,
        started_at=began,
    )
    report.notes = f"dead-lettered: {dead_letters} of {len(MALFORMED)}"
    record(report)
    assert report.violations == []
    assert dead_letters == len(MALFORMED)
    assert all(worker.alive for worker in cluster.procs if worker.part == "worker")
    assert (report.lost, report.duplicates, report.late) == (0, 0, 0)


async def _sent_at_least(pool: asyncpg.Pool, mailing_id: int, n: int) -> bool:
    return await harness.count_status(pool, mailing_id, "sent") >= n
