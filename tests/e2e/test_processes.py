"""Several schedulers and workers as real processes over RabbitMQ, and a worker's kill -9."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aio_pika
import asyncpg
import httpx2
import pytest

from herald.providers.fake import FakeProvider
from tests import services
from tests.e2e.checks import (
    accepted_ids,
    create_mailing,
    eventually,
    import_clients,
    requests_by_id,
    settled,
)
from tests.e2e.conftest import PROVIDER_TOKEN
from tests.e2e.processes import Processes

WORKER_CONCURRENCY = 20


@pytest.fixture
async def processes(db_url: str, queue_name: str, fake: FakeProvider) -> AsyncIterator[Processes]:
    procs = Processes(
        {
            "HERALD_DATABASE_URL": db_url,
            "HERALD_AMQP_URL": services.AMQP_URL,
            "HERALD_QUEUE_NAME": queue_name,
            "HERALD_PROVIDER_URL": fake.url,
            "HERALD_PROVIDER_TOKEN": PROVIDER_TOKEN,
            "HERALD_CONCURRENCY": str(WORKER_CONCURRENCY),
            "HERALD_BATCH_SIZE": "50",
            "HERALD_SEND_LEASE": "3",
            "HERALD_QUEUE_LEASE": "3",
            "HERALD_LOG_LEVEL": "WARNING",
        }
    )
    yield procs
    await procs.stop_all()
    connection = await aio_pika.connect(services.AMQP_URL)
    async with connection:
        channel = await connection.channel()
        for name in (queue_name, f"{queue_name}.dead"):
            await channel.queue_delete(name)


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(seconds=1), now + timedelta(minutes=5)


async def test_two_schedulers_and_two_workers_send_each_message_once(
    api: httpx2.AsyncClient, fake: FakeProvider, processes: Processes
) -> None:
    for part in ("scheduler", "scheduler", "worker", "worker"):
        await processes.start(part)
    await import_clients(api, [f"7900{i:07d}" for i in range(2000)], "900", "")
    mailing = await create_mailing(api, *_window())
    found = await settled(api, mailing["id"], 2000, within=60)
    assert found["sent"] == 2000
    assert len(requests_by_id(fake.log)) == 2000
    assert max(requests_by_id(fake.log).values()) == 1


async def test_kill_9_of_a_worker_mid_mailing(
    api: httpx2.AsyncClient, fake: FakeProvider, processes: Processes
) -> None:
    await fake.update_faults({"latency": 0.05})
    await processes.start("scheduler")
    victim = await processes.start("worker")
    await processes.start("worker")
    await import_clients(api, [f"7900{i:07d}" for i in range(3000)], "900", "")
    mailing = await create_mailing(api, *_window())
    await eventually(lambda: len(fake.log) >= 500, 30, "sending started")
    await processes.stop(victim, signal.SIGKILL)
    found = await settled(api, mailing["id"], 3000, within=60)
    assert found["sent"] == 3000
    assert set(accepted_ids(fake.log)) == set(requests_by_id(fake.log))
    duplicates = sum(n - 1 for n in requests_by_id(fake.log).values())
    assert duplicates <= WORKER_CONCURRENCY


async def test_sigterm_lets_calls_in_flight_finish(
    api: httpx2.AsyncClient, fake: FakeProvider, processes: Processes, pool: asyncpg.Pool
) -> None:
    await fake.update_faults({"latency": 1.0})
    await processes.start("scheduler")
    worker = await processes.start("worker", HERALD_SHUTDOWN_GRACE="5")
    await import_clients(api, [f"7900{i:07d}" for i in range(200)], "900", "")
    mailing = await create_mailing(api, *_window())
    await eventually(lambda: len(fake.log) >= WORKER_CONCURRENCY, 20, "a full set in flight")
    began = asyncio.get_running_loop().time()
    assert await processes.stop(worker, signal.SIGTERM) == 0
    assert asyncio.get_running_loop().time() - began < 5
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT status, count(*) FROM messages WHERE mailing_id = $1 GROUP BY 1",
            mailing["id"],
        )
    by_status = {r["status"]: r["count"] for r in rows}
    assert by_status.get("sending", 0) == 0, by_status
    assert by_status["sent"] == len(accepted_ids(fake.log))
