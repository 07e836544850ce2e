"""The scheduler and a worker side by side in one process (``herald serve``, and tests)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from herald.dispatch import service as workers
from herald.dispatch.worker import Worker
from herald.resources import Resources
from herald.scheduler import service as scheduler


@contextlib.asynccontextmanager
async def running(resources: Resources) -> AsyncIterator[Worker]:
    """Runs both for as long as the context is open; the worker drains first on the way out."""
    async with (
        scheduler.running(resources.pool, resources.queue, resources.settings),
        workers.running(resources) as worker,
    ):
        yield worker
