"""The worker process: consumes batches until told to stop, then drains within the grace."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator

from herald.dispatch.worker import Worker
from herald.resources import Resources

logger = logging.getLogger(__name__)


def prefetch_for(concurrency: int, batch_size: int) -> int:
    """Enough batches in hand to keep every send slot busy while one batch is written back."""
    return max(2, math.ceil(2 * concurrency / batch_size))


@contextlib.asynccontextmanager
async def running(resources: Resources) -> AsyncIterator[Worker]:
    """Consumes for as long as the context is open; on exit stops taking batches and drains."""
    settings = resources.settings
    assert resources.provider is not None, "open_resources(provider=True) for a worker"
    worker = Worker(resources.pool, resources.provider, settings)
    consumer = await resources.queue.consume(
        worker.handle, prefetch_for(settings.concurrency, settings.batch_size)
    )
    logger.info("worker started", extra={"concurrency": settings.concurrency})
    try:
        yield worker
    finally:
        await consumer.stop(settings.shutdown_grace)
        logger.info("worker stopped")
