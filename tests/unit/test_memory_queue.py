"""MemoryQueue: what only the in-process queue does.

The consumer-side contract it shares with RabbitMQ is tests/integration/test_queue_contract.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from herald.queue import factory, memory
from herald.queue.base import QueueError

DELIVERY_LIMIT = 2


async def eventually(check: Callable[[], bool], within: float = 2.0) -> None:
    """Polls ``check`` until it holds; fails the test after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 -- a predicate on plain state: no event to wait on
            await asyncio.sleep(0.001)


@pytest.fixture
async def queue() -> AsyncIterator[memory.MemoryQueue]:
    opened = memory.MemoryQueue(DELIVERY_LIMIT)
    yield opened
    await opened.close()


async def test_handler_gets_a_copy_of_the_batch(queue: memory.MemoryQueue) -> None:
    calls: list[list[int]] = []

    async def handler(ids: list[int]) -> None:
        calls.append(list(ids))
        ids.clear()
        raise RuntimeError("fails after mangling its argument")

    consumer = await queue.consume(handler, prefetch=1)
    await queue.publish([[7, 8]])
    await eventually(lambda: queue.dead != [])
    await consumer.stop(1)

    assert calls == [[7, 8]] * (DELIVERY_LIMIT + 1)
    assert queue.dead == [[7, 8]]


async def test_a_batch_cancelled_past_the_limit_is_dead_lettered(
    queue: memory.MemoryQueue,
) -> None:
    calls = 0

    async def stuck(ids: list[int]) -> None:
        nonlocal calls
        calls += 1
        await asyncio.Event().wait()

    await queue.publish([[3]])
    for _ in range(DELIVERY_LIMIT + 1):
        consumer = await queue.consume(stuck, prefetch=1)
        await eventually(lambda: queue.depth == 0)
        await consumer.stop(0)

    # Like a quorum queue, a return because the consumer went away counts as a delivery.
    assert calls == DELIVERY_LIMIT + 1
    assert queue.dead == [[3]]


async def test_close_cancels_running_handlers_and_refuses_publishes(
    queue: memory.MemoryQueue,
) -> None:
    started = asyncio.Event()

    async def stuck(ids: list[int]) -> None:
        started.set()
        await asyncio.Event().wait()

    assert await queue.ping()
    await queue.consume(stuck, prefetch=1)
    await queue.publish([[1]])
    await asyncio.wait_for(started.wait(), 1)
    await queue.close()

    assert not await queue.ping()
    assert queue.depth == 1
    with pytest.raises(QueueError):
        await queue.publish([[2]])


async def test_consume_rejects_a_zero_prefetch(queue: memory.MemoryQueue) -> None:
    async def handler(ids: list[int]) -> None:
        return None

    with pytest.raises(ValueError, match="prefetch"):
        await queue.consume(handler, prefetch=0)


@pytest.mark.parametrize("url", [None, ""])
async def test_factory_without_a_broker_url_gives_the_memory_queue(url: str | None) -> None:
    opened = await factory.open_queue(url, "unused", DELIVERY_LIMIT)
    try:
        assert isinstance(opened, memory.MemoryQueue)
    finally:
        await opened.close()
