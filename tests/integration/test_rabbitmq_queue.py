"""RabbitQueue against the real broker: each test has its own queue name, deleted after."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from uuid import uuid4

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from herald.queue import factory, rabbitmq
from herald.queue.base import QueueError
from tests.services import AMQP_URL

DELIVERY_LIMIT = 2
BIGINT_MAX = 2**63 - 1


async def eventually(check: Callable[[], bool], within: float = 3.0) -> None:
    """Polls ``check`` until it holds; fails the test after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110 -- a predicate on plain state: no event to wait on
            await asyncio.sleep(0.01)


@pytest.fixture
def name() -> str:
    return f"test.{uuid4().hex[:8]}"


@pytest.fixture
async def raw(name: str) -> AsyncIterator[AbstractChannel]:
    """A plain aio_pika channel for what the queue API does not do; deletes the test's queues."""
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        yield channel
        for queue_name in (name, name + ".dead"):
            await channel.queue_delete(queue_name)


@pytest.fixture
async def queue(raw: AbstractChannel, name: str) -> AsyncIterator[rabbitmq.RabbitQueue]:
    opened = await rabbitmq.open_rabbit(AMQP_URL, name, DELIVERY_LIMIT, reconnect_interval=0.2)
    yield opened
    await opened.close()


async def ready_count(raw: AbstractChannel, name: str) -> int:
    declared = await raw.declare_queue(name, passive=True)
    count = declared.declaration_result.message_count
    assert count is not None
    return count


async def next_dead(raw: AbstractChannel, name: str) -> AbstractIncomingMessage:
    dead = await raw.get_queue(name + ".dead")
    async with asyncio.timeout(3):
        while (message := await dead.get(fail=False, no_ack=True)) is None:  # noqa: ASYNC110 -- broker state
            await asyncio.sleep(0.01)
    return message


async def received_within(queue: rabbitmq.RabbitQueue, seconds: float) -> list[list[int]]:
    """Batches a fresh consumer gets within ``seconds`` (acked)."""
    got: list[list[int]] = []

    async def handler(ids: list[int]) -> None:
        got.append(ids)

    consumer = await queue.consume(handler, prefetch=10)
    await asyncio.sleep(seconds)
    await consumer.stop(1)
    return got


@pytest.mark.parametrize(
    ("body", "ids"),
    [
        (b'{"ids":[1,2,3]}', [1, 2, 3]),
        (b'{"ids":[9223372036854775807],"v":2}', [BIGINT_MAX]),
        (b"", None),
        (b"not json", None),
        (b"\xff\xfe", None),
        (b"[1,2]", None),
        (b'{"ids":[]}', None),
        (b'{"ids":"1,2"}', None),
        (b'{"ids":[0]}', None),
        (b'{"ids":[-1]}', None),
        (b'{"ids":[true]}', None),
        (b'{"ids":[1.0]}', None),
        (b'{"ids":[1e400]}', None),
        (b'{"ids":[NaN]}', None),
        (b'{"ids":[9223372036854775808]}', None),
        (b'{"ids":[null]}', None),
        (b"[" * 100_000, None),
    ],
)
def test_decode_batch_accepts_only_nonempty_bigint_ids(body: bytes, ids: list[int] | None) -> None:
    assert rabbitmq.decode_batch(body) == ids


def test_encode_round_trips_and_is_compact() -> None:
    body = rabbitmq.encode_batch((1, 22, BIGINT_MAX))
    assert body == b'{"ids":[1,22,9223372036854775807]}'
    assert rabbitmq.decode_batch(body) == [1, 22, BIGINT_MAX]


@pytest.mark.parametrize("bad", ["", "amq.work", "x" * 251])
async def test_open_rejects_unusable_names(bad: str) -> None:
    with pytest.raises(ValueError, match="queue name"):
        await rabbitmq.open_rabbit(AMQP_URL, bad, DELIVERY_LIMIT)


async def test_round_trip_acks_every_batch(
    queue: rabbitmq.RabbitQueue, raw: AbstractChannel, name: str
) -> None:
    batches = [[i * 10 + j for j in range(1, 4)] for i in range(1, 6)]
    got: list[list[int]] = []

    async def handler(ids: list[int]) -> None:
        got.append(ids)

    await queue.publish(batches)
    consumer = await queue.consume(handler, prefetch=4)
    await eventually(lambda: len(got) == len(batches))
    await consumer.stop(1)

    assert sorted(got) == batches
    assert await ready_count(raw, name) == 0  # acked, so nothing came back with the channel


async def test_publish_rejects_an_empty_batch(queue: rabbitmq.RabbitQueue) -> None:
    with pytest.raises(ValueError, match="empty batch"):
        await queue.publish([[1], []])


async def test_failing_handler_is_redelivered_then_dead_lettered(
    queue: rabbitmq.RabbitQueue, raw: AbstractChannel, name: str
) -> None:
    calls: list[list[int]] = []

    async def handler(ids: list[int]) -> None:
        calls.append(ids)
        raise RuntimeError("poison")

    consumer = await queue.consume(handler, prefetch=1)
    await queue.publish([[42, 43]])
    dead = await next_dead(raw, name)
    await consumer.stop(1)

    assert calls == [[42, 43]] * (DELIVERY_LIMIT + 1)
    assert rabbitmq.decode_batch(dead.body) == [42, 43]
    assert dead.headers["x-first-death-reason"] == "delivery_limit"


async def test_malformed_body_is_dead_lettered_at_once(
    queue: rabbitmq.RabbitQueue, raw: AbstractChannel, name: str
) -> None:
    got: list[list[int]] = []

    async def handler(ids: list[int]) -> None:
        got.append(ids)

    consumer = await queue.consume(handler, prefetch=2)
    await queue.publish([[1]])
    await raw.default_exchange.publish(aio_pika.Message(b'{"ids":[0]}'), routing_key=name)
    await queue.publish([[2]])
    dead = await next_dead(raw, name)
    await eventually(lambda: len(got) == 2)
    await consumer.stop(1)

    assert dead.body == b'{"ids":[0]}'
    assert dead.headers["x-first-death-reason"] == "rejected"  # not after the delivery limit
    assert sorted(got) == [[1], [2]]


async def test_prefetch_bounds_concurrent_handlers(queue: rabbitmq.RabbitQueue) -> None:
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

    await queue.publish([[i] for i in range(1, 13)])
    consumer = await queue.consume(handler, prefetch=3)
    await eventually(lambda: len(done) == 12)
    await consumer.stop(1)

    assert peak == 3


async def test_stop_waits_for_a_running_handler_then_acks(
    queue: rabbitmq.RabbitQueue, raw: AbstractChannel, name: str
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[list[int]] = []

    async def handler(ids: list[int]) -> None:
        started.set()
        await release.wait()
        finished.append(ids)

    consumer = await queue.consume(handler, prefetch=1)
    await queue.publish([[7]])
    await asyncio.wait_for(started.wait(), 3)
    stopping = asyncio.create_task(consumer.stop(grace=3))
    await asyncio.sleep(0.1)
    assert not stopping.done()
    release.set()
    await stopping

    assert finished == [[7]]
    assert await received_within(queue, 0.3) == []


async def test_stop_cancels_handlers_past_grace_and_their_batches_come_back(
    queue: rabbitmq.RabbitQueue,
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
    await consumer.stop(grace=0.05)

    assert sorted(cancelled) == [[1], [2]]
    assert sorted(await received_within(queue, 0.3)) == [[1], [2]]


async def test_unacked_batches_of_a_closed_queue_go_to_the_next_consumer(
    raw: AbstractChannel, name: str
) -> None:
    calls: list[list[int]] = []

    async def stuck(ids: list[int]) -> None:
        calls.append(ids)
        await asyncio.Event().wait()

    first = await rabbitmq.open_rabbit(AMQP_URL, name, DELIVERY_LIMIT)
    await first.consume(stuck, prefetch=1)
    await first.publish([[5]])
    await eventually(lambda: calls == [[5]])
    await first.close()

    second = await rabbitmq.open_rabbit(AMQP_URL, name, DELIVERY_LIMIT)
    try:
        assert await received_within(second, 0.3) == [[5]]
    finally:
        await second.close()


async def test_in_flight_handler_survives_a_dropped_connection(
    queue: rabbitmq.RabbitQueue,
) -> None:
    calls: list[list[int]] = []
    release = asyncio.Event()

    async def handler(ids: list[int]) -> None:
        calls.append(ids)
        await release.wait()

    consumer = await queue.consume(handler, prefetch=1)
    await queue.publish([[9]])
    await eventually(lambda: calls == [[9]])
    await drop_connection(queue)
    release.set()  # finishes on a dead channel: the ack is lost, the broker redelivers
    await eventually(lambda: calls == [[9], [9]])
    await eventually_published(queue, [[10]])
    await eventually(lambda: calls[-1] == [10])
    await consumer.stop(1)


async def drop_connection(queue: rabbitmq.RabbitQueue) -> None:
    """Closes the socket under the robust connection, as a broker restart would."""
    transport = queue._connection.transport
    assert transport is not None
    await transport.connection.close(ConnectionError("simulated drop"))
    assert not await queue.ping()


async def eventually_published(queue: rabbitmq.RabbitQueue, batches: list[list[int]]) -> None:
    """Publishes once the robust connection is back (publishes fail fast while it is down)."""
    async with asyncio.timeout(3):
        while not await queue.ping():  # noqa: ASYNC110 -- broker state
            await asyncio.sleep(0.05)
    await queue.publish(batches)


async def test_publish_to_a_missing_queue_raises(queue: rabbitmq.RabbitQueue) -> None:
    await queue.delete()
    with pytest.raises(QueueError, match="1 of 1"):
        await queue.publish([[1]])


async def test_publish_after_close_raises(queue: rabbitmq.RabbitQueue) -> None:
    await queue.close()
    with pytest.raises(QueueError):
        await queue.publish([[1]])


async def test_ping(queue: rabbitmq.RabbitQueue) -> None:
    assert await queue.ping()
    await queue.delete()
    assert not await queue.ping()
    await queue.close()
    assert not await queue.ping()


async def test_purge_empties_the_queue(
    queue: rabbitmq.RabbitQueue, raw: AbstractChannel, name: str
) -> None:
    await queue.publish([[1], [2]])
    await queue.purge()
    assert await ready_count(raw, name) == 0


async def test_factory_with_a_broker_url_gives_the_rabbit_queue(
    raw: AbstractChannel, name: str
) -> None:
    opened = await factory.open_queue(AMQP_URL, name, DELIVERY_LIMIT)
    try:
        assert isinstance(opened, rabbitmq.RabbitQueue)
        assert await opened.ping()
    finally:
        await opened.close()
