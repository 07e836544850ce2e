"""MemoryQueue: the broker's consumer-side semantics, in process."""

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


async def test_round_trip(queue: memory.MemoryQueue) -> None:
    batches = [[1, 2], [3], [4, 5, 6]]
    got: list[list[int]] = []

    async def handler(ids: list[int]) -> None:
        got.append(ids)

    await queue.publish(batches)
    consumer = await queue.consume(handler, prefetch=2)
    await eventually(lambda: len(got) == 3)
    await consumer.stop(1)

    assert sorted(got) == batches
    assert queue.depth == 0
    assert queue.dead == []


async def test_publish_rejects_an_empty_batch(queue: memory.MemoryQueue) -> None:
    with pytest.raises(ValueError, match="empty batch"):
        await queue.publish([[1], []])
    assert queue.depth == 0


async def test_failing_handler_is_redelivered_then_dead_lettered(
    queue: memory.MemoryQueue,
) -> None:
    calls: list[list[int]] = []

    async def handler(ids: list[int]) -> None:
        calls.append(ids)
        raise RuntimeError("poison")

    consumer = await queue.consume(handler, prefetch=1)
    await queue.publish([[42, 43]])
    await eventually(lambda: queue.dead != [])
    await consumer.stop(1)

    # The broker's rule: handed out delivery_limit + 1 times, then dead-lettered.
    assert calls == [[42, 43]] * (DELIVERY_LIMIT + 1)
    assert queue.dead == [[42, 43]]
    assert queue.depth == 0


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


async def test_prefetch_bounds_concurrent_handlers(queue: memory.MemoryQueue) -> None:
    running = 0
    peak = 0
    done: list[list[int]] = []

    async def handler(ids: list[int]) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.005)
        running -= 1
        done.append(ids)

    await queue.publish([[i] for i in range(1, 13)])
    consumer = await queue.consume(handler, prefetch=3)
    await eventually(lambda: len(done) == 12)
    await consumer.stop(1)

    assert peak == 3


async def test_stop_waits_for_a_running_handler_and_takes_no_more(
    queue: memory.MemoryQueue,
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[list[int]] = []

    async def handler(ids: list[int]) -> None:
        started.set()
        await release.wait()
        finished.append(ids)

    consumer = await queue.consume(handler, prefetch=1)
    await queue.publish([[7], [8]])
    await asyncio.wait_for(started.wait(), 1)
    stopping = asyncio.create_task(consumer.stop(grace=2))
    await asyncio.sleep(0.02)
    assert not stopping.done()
    release.set()
    await stopping

    assert finished == [[7]]
    assert queue.depth == 1  # [8] stays for the next consumer; [7] is not back
    assert queue.dead == []


async def test_stop_cancels_handlers_past_grace_and_their_batches_come_back(
    queue: memory.MemoryQueue,
) -> None:
    calls: list[list[int]] = []
    cancelled: list[list[int]] = []

    async def stuck(ids: list[int]) -> None:
        calls.append(ids)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(ids)
            raise

    consumer = await queue.consume(stuck, prefetch=2)
    await queue.publish([[1], [2]])
    await eventually(lambda: len(calls) == 2)
    await consumer.stop(grace=0.01)

    assert sorted(cancelled) == [[1], [2]]
    assert queue.depth == 2

    got: list[list[int]] = []

    async def handler(ids: list[int]) -> None:
        got.append(ids)

    second = await queue.consume(handler, prefetch=2)
    await eventually(lambda: len(got) == 2)
    await second.stop(1)
    assert sorted(got) == [[1], [2]]


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


async def test_purge_drops_waiting_and_dead_batches(queue: memory.MemoryQueue) -> None:
    await queue.publish([[1], [2]])
    queue.dead.append([3])
    await queue.purge()
    assert queue.depth == 0
    assert queue.dead == []


@pytest.mark.parametrize("url", [None, ""])
async def test_factory_without_a_broker_url_gives_the_memory_queue(url: str | None) -> None:
    opened = await factory.open_queue(url, "unused", DELIVERY_LIMIT)
    try:
        assert isinstance(opened, memory.MemoryQueue)
    finally:
        await opened.close()
