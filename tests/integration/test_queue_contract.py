"""The consumer-side contract both queue backends keep, run once per backend.

MemoryQueue stands in for RabbitMQ in a single ``herald serve``, so the two must agree on
redelivery, dead-lettering, prefetch and stopping. What only one backend has (decoding,
dropped connections, a handler's copy of its batch...) stays in its own test file.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar
from uuid import uuid4

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from herald.queue import memory, rabbitmq
from tests.services import AMQP_URL

DELIVERY_LIMIT = 2
# The broker's tolerances, generous enough for the in-process queue as well.
TIMEOUT = 3.0
POLL = 0.01

AnyQueue = memory.MemoryQueue | rabbitmq.RabbitQueue
T = TypeVar("T")


class Backend(Protocol):
    """An opened queue, plus a look at what the queue API itself does not show."""

    @property
    def queue(self) -> AnyQueue: ...

    async def waiting(self) -> int:
        """Batches ready for a consumer (not those being handled)."""
        ...

    async def dead_letters(self) -> list[list[int]]:
        """Every batch dead-lettered so far, oldest first."""
        ...

    async def add_dead_letter(self, batch: list[int]) -> None:
        """Puts ``batch`` straight among the dead letters, as if it had been dead-lettered."""
        ...


class MemoryBackend:
    def __init__(self, queue: memory.MemoryQueue) -> None:
        self.queue = queue

    async def waiting(self) -> int:
        return self.queue.depth

    async def dead_letters(self) -> list[list[int]]:
        return list(self.queue.dead)

    async def add_dead_letter(self, batch: list[int]) -> None:
        self.queue.dead.append(batch)


class RabbitBackend:
    """Reads the broker's side through ``raw``, a plain channel outside the queue under test."""

    def __init__(self, queue: rabbitmq.RabbitQueue, raw: AbstractChannel) -> None:
        self.queue = queue
        self._raw = raw
        self._dead: list[list[int]] = []  # reading ``<name>.dead`` takes the messages off it

    async def waiting(self) -> int:
        declared = await self._raw.declare_queue(self.queue.name, passive=True)
        count = declared.declaration_result.message_count
        assert count is not None
        return count

    async def dead_letters(self) -> list[list[int]]:
        dead = await self._raw.get_queue(self.queue.name + ".dead")
        while (message := await dead.get(fail=False, no_ack=True)) is not None:
            self._dead.append(_dead_batch(message))
        return list(self._dead)

    async def add_dead_letter(self, batch: list[int]) -> None:
        message = aio_pika.Message(
            rabbitmq.encode_batch(batch), headers={"x-first-death-reason": "delivery_limit"}
        )
        # The raw channel has publisher confirms: the message is queued once this returns.
        await self._raw.default_exchange.publish(message, routing_key=self.queue.name + ".dead")


def _dead_batch(message: AbstractIncomingMessage) -> list[int]:
    # The contract only dead-letters past the delivery limit; a malformed body, dead-lettered
    # at once as "rejected", is a RabbitMQ-only test.
    assert message.headers.get("x-first-death-reason") == "delivery_limit"
    batch = rabbitmq.decode_batch(message.body)
    assert batch is not None
    return batch


@contextlib.asynccontextmanager
async def open_memory_backend() -> AsyncIterator[Backend]:
    queue = memory.MemoryQueue(DELIVERY_LIMIT)
    yield MemoryBackend(queue)
    await queue.close()


@contextlib.asynccontextmanager
async def open_rabbit_backend() -> AsyncIterator[Backend]:
    """A queue with its own name, both of its queues deleted after the test."""
    name = f"test.{uuid4().hex[:8]}"
    async with await aio_pika.connect(AMQP_URL) as connection:
        raw = await connection.channel()
        queue = await rabbitmq.open_rabbit(AMQP_URL, name, DELIVERY_LIMIT, reconnect_interval=0.2)
        yield RabbitBackend(queue, raw)
        await queue.close()
        for queue_name in (name, name + ".dead"):
            await raw.queue_delete(queue_name)


OPENERS: dict[str, Callable[[], AbstractAsyncContextManager[Backend]]] = {
    "memory": open_memory_backend,
    "rabbitmq": open_rabbit_backend,
}


@pytest.fixture(params=list(OPENERS))
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    async with OPENERS[request.param]() as opened:
        yield opened


async def eventually(check: Callable[[], bool], within: float = TIMEOUT) -> None:
    """Polls ``check`` until it holds; fails the test after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 -- a predicate on plain state: no event to wait on
            await asyncio.sleep(POLL)


async def settles(probe: Callable[[], Awaitable[T]], expected: T, within: float = TIMEOUT) -> None:
    """Polls ``probe()`` until it gives ``expected``; fails with the last value after ``within`` s.

    The broker re-queues a closed channel's unacked batches shortly after the close, not with
    it; the in-process queue is already settled at the first look.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (value := await probe()) != expected and loop.time() < deadline:  # noqa: ASYNC110 -- broker state
        await asyncio.sleep(POLL)
    assert value == expected


async def received_within(queue: AnyQueue, seconds: float) -> list[list[int]]:
    """Batches a fresh consumer gets within ``seconds`` (acked)."""
    got: list[list[int]] = []

    async def handler(ids: list[int]) -> None:
        got.append(ids)

    consumer = await queue.consume(handler, prefetch=10)
    await asyncio.sleep(seconds)
    await consumer.stop(1)
    return got


async def test_round_trip_acks_every_batch(backend: Backend) -> None:
    batches = [[1, 2], [3], [4, 5, 6], [7, 8, 9, 10], [11]]
    got: list[list[int]] = []

    async def handler(ids: list[int]) -> None:
        got.append(ids)

    await backend.queue.publish(batches)
    consumer = await backend.queue.consume(handler, prefetch=2)
    await eventually(lambda: len(got) == len(batches))
    await consumer.stop(1)

    assert sorted(got) == batches
    await settles(backend.waiting, 0)  # acked, so nothing came back when the consumer stopped
    assert await backend.dead_letters() == []


async def test_publish_rejects_an_empty_batch(backend: Backend) -> None:
    with pytest.raises(ValueError, match="empty batch"):
        await backend.queue.publish([[1], []])
    assert await backend.waiting() == 0  # not even the good batch before it


async def test_failing_handler_is_redelivered_then_dead_lettered(backend: Backend) -> None:
    calls: list[list[int]] = []

    async def handler(ids: list[int]) -> None:
        calls.append(ids)
        raise RuntimeError("poison")

    consumer = await backend.queue.consume(handler, prefetch=1)
    await backend.queue.publish([[42, 43]])
    await settles(backend.dead_letters, [[42, 43]])
    await consumer.stop(1)

    # The broker's rule: handed out delivery_limit + 1 times, then dead-lettered.
    assert calls == [[42, 43]] * (DELIVERY_LIMIT + 1)
    assert await backend.dead_letters() == [[42, 43]]
    assert await backend.waiting() == 0


async def test_prefetch_bounds_concurrent_handlers(backend: Backend) -> None:
    running = 0
    peak = 0
    done: list[list[int]] = []

    async def handler(ids: list[int]) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        done.append(ids)

    await backend.queue.publish([[i] for i in range(1, 13)])
    consumer = await backend.queue.consume(handler, prefetch=3)
    await eventually(lambda: len(done) == 12)
    await consumer.stop(1)

    assert peak == 3


async def test_stop_waits_for_a_running_handler_and_takes_no_more(backend: Backend) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[list[int]] = []

    async def handler(ids: list[int]) -> None:
        started.set()
        await release.wait()
        finished.append(ids)

    consumer = await backend.queue.consume(handler, prefetch=1)
    await backend.queue.publish([[7], [8]])
    await asyncio.wait_for(started.wait(), TIMEOUT)
    stopping = asyncio.create_task(consumer.stop(grace=TIMEOUT))
    await asyncio.sleep(0.1)
    assert not stopping.done()
    release.set()
    await stopping

    assert finished == [[7]]
    await settles(backend.waiting, 1)  # [8] stays for the next consumer
    assert await backend.dead_letters() == []
    assert await received_within(backend.queue, 0.3) == [[8]]  # [7] was acked: not back


async def test_stop_cancels_handlers_past_grace_and_their_batches_come_back(
    backend: Backend,
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

    consumer = await backend.queue.consume(stuck, prefetch=2)
    await backend.queue.publish([[1], [2]])
    await eventually(lambda: len(calls) == 2)
    await consumer.stop(grace=0.05)

    assert sorted(cancelled) == [[1], [2]]
    await settles(backend.waiting, 2)
    assert await backend.dead_letters() == []  # one return each, within the delivery limit
    assert sorted(await received_within(backend.queue, 0.3)) == [[1], [2]]


async def test_purge_drops_waiting_and_dead_batches(backend: Backend) -> None:
    await backend.queue.publish([[1], [2]])
    await backend.add_dead_letter([3])
    assert await backend.waiting() == 2

    await backend.queue.purge()

    assert await backend.waiting() == 0
    assert await backend.dead_letters() == []
