"""RabbitQueue against the real broker: each test has its own queue name, deleted after.

The consumer-side contract it shares with MemoryQueue is test_queue_contract.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from uuid import uuid4

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from herald.queue import factory, rabbitmq
from herald.queue.base import QueueError
from tests.integration.test_queue_contract import received_within
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


async def next_dead(raw: AbstractChannel, name: str) -> AbstractIncomingMessage:
    dead = await raw.get_queue(name + ".dead")
    async with asyncio.timeout(3):
        while (message := await dead.get(fail=False, no_ack=True)) is None:  # noqa: ASYNC110 -- broker state
            await asyncio.sleep(0.01)
    return message


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


async def test_factory_with_a_broker_url_gives_the_rabbit_queue(
    raw: AbstractChannel, name: str
) -> None:
    opened = await factory.open_queue(AMQP_URL, name, DELIVERY_LIMIT)
    try:
        assert isinstance(opened, rabbitmq.RabbitQueue)
        assert await opened.ping()
    finally:
        await opened.close()
