"""Picks the queue backend: RabbitMQ when a broker URL is configured, else in-process."""

from __future__ import annotations

from herald.queue import memory, rabbitmq
from herald.queue.base import Queue


async def open_queue(amqp_url: str | None, name: str, delivery_limit: int) -> Queue:
    """A connected RabbitMQ queue for ``amqp_url``, or an in-process one when it is unset.

    An empty URL counts as unset, so ``HERALD_AMQP_URL=`` selects the in-process queue.
    """
    if not amqp_url:
        return memory.MemoryQueue(delivery_limit)
    return await rabbitmq.open_rabbit(amqp_url, name, delivery_limit)
