"""The long-lived things a process holds: the pool, the queue, the provider client."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator

from herald.config import Settings
from herald.providers.base import Provider
from herald.providers.sending_api import SendingApiProvider
from herald.queue.base import Queue
from herald.queue.factory import open_queue
from herald.storage.db import Pool, create_pool


@dataclasses.dataclass(frozen=True)
class Resources:
    settings: Settings
    pool: Pool
    queue: Queue
    provider: Provider | None


def _secret(value: object) -> str | None:
    get = getattr(value, "get_secret_value", None)
    return get() if get is not None else None


@contextlib.asynccontextmanager
async def open_resources(
    settings: Settings, *, provider: bool, name: str = "herald", generic_plans: bool = False
) -> AsyncIterator[Resources]:
    """Opens what a process needs, and closes it all on the way out.

    Args:
        settings: the process's settings; ``database_url`` must be set by now.
        provider: open the provider's HTTP client too (workers need it, the API does not).
        name: the database sessions' application_name ("herald worker", say).
        generic_plans: see ``storage.db.create_pool``; a worker process's pool.
    """
    dsn = _secret(settings.database_url)
    if dsn is None:
        raise ValueError("HERALD_DATABASE_URL is required")
    pool = await create_pool(dsn, settings.db_pool_min, settings.db_pool_max, name, generic_plans)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(pool.close)
        queue = await open_queue(
            _secret(settings.amqp_url), settings.queue_name, settings.queue_delivery_limit
        )
        stack.push_async_callback(queue.close)
        client = _open_provider(settings) if provider else None
        if client is not None:
            stack.push_async_callback(client.close)
        yield Resources(settings, pool, queue, client)


def _open_provider(settings: Settings) -> Provider:
    if settings.provider_url is None:
        raise ValueError("HERALD_PROVIDER_URL is required")
    token = _secret(settings.provider_token) or ""
    return SendingApiProvider(settings.provider_url, token, settings.concurrency)
