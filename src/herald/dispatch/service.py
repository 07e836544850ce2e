"""The worker process: consumes batches until told to stop, then drains within the grace."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial

from herald import metrics
from herald.dispatch.deadlines import Deadlines
from herald.dispatch.worker import Worker
from herald.resources import Resources
from herald.storage import events, mailings, workers
from herald.storage.db import UNAVAILABLE, Pool

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 1.0


def prefetch_for(concurrency: int, batch_size: int) -> int:
    """Enough batches in hand to keep every send slot busy while one batch is written back."""
    return max(2, math.ceil(2 * concurrency / batch_size))


@contextlib.asynccontextmanager
async def running(resources: Resources) -> AsyncIterator[Worker]:
    """Consumes for as long as the context is open; on exit stops taking batches and drains."""
    settings = resources.settings
    assert resources.provider is not None, "open_resources(provider=True) for a worker"
    worker = Worker(resources.pool, resources.provider, settings)
    metrics.IN_FLIGHT.set_function(lambda: worker.in_flight)
    consumer = await resources.queue.consume(
        worker.handle, prefetch_for(settings.concurrency, settings.batch_size)
    )
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{id(worker):x}"
    beats = asyncio.create_task(_heartbeat(resources, worker, worker_id))
    on_end_moved = partial(_on_end_moved, worker)
    catch_up = partial(read_ends, resources.pool, worker.deadlines)
    try:
        async with events.listening(resources.pool, events.END_CHANNEL, on_end_moved, catch_up):
            logger.info(
                "worker started",
                extra={"worker_id": worker_id, "concurrency": settings.concurrency},
            )
            try:
                yield worker
            finally:
                worker.stop_claiming()
                await consumer.stop(settings.shutdown_grace)
    finally:
        beats.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beats
        with contextlib.suppress(*UNAVAILABLE):
            async with resources.pool.acquire() as conn:
                await workers.forget(conn, worker_id)
        logger.info("worker stopped", extra={"worker_id": worker_id})


def _on_end_moved(worker: Worker, *args: object) -> None:
    payload = args[-1]
    if isinstance(payload, str):
        worker.deadlines.moved(*events.parse_end_moved(payload))


async def read_ends(pool: Pool, deadlines: Deadlines) -> None:
    """The end of every mailing with calls under way: an end moved while the end channel was
    lost was announced to no one, and cuts those calls only from here."""
    ids = deadlines.mailings_in_flight()
    if not ids:
        return
    async with pool.acquire() as conn:
        ends = await mailings.seconds_left(conn, ids)
    for mailing_id, left in ends.items():
        deadlines.moved(mailing_id, left)


async def _heartbeat(resources: Resources, worker: Worker, worker_id: str) -> None:
    """Tells the API every second how this worker and its provider breaker are."""
    started_at = datetime.now(UTC)
    while True:
        beat = workers.Heartbeat(
            worker_id,
            worker.breaker.state.value,
            worker.breaker.reason,
            worker.in_flight,
            worker.calls,
            started_at,
        )
        with contextlib.suppress(*UNAVAILABLE):
            async with resources.pool.acquire() as conn:
                await workers.beat(conn, beat)
        await asyncio.sleep(HEARTBEAT_INTERVAL)
