"""The RabbitMQ backend: a durable quorum queue of id batches, with a dead-letter queue.

Each batch is one persistent JSON message ``{"ids":[1,2,3]}`` on the default exchange, routed
by the queue's name. The connection is aio_pika's robust one: after a drop it reconnects,
re-declares both queues, restores QoS and restarts consumers by itself. A delivery received
on a channel that has since died cannot be acked (the ack raises and is logged); the broker
redelivers that batch, which the workers' compare-and-set writes make harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Sequence
from typing import Any

import aio_pika
import aiormq.abc
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from herald.queue.base import Handler, QueueError

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 10.0  # seconds for one batch's confirm; past it the rows wait for the rescue
RPC_TIMEOUT = 2.0  # ping, consumer cancel and channel close: never hang a health check or stop
RECONNECT_INTERVAL = 2.0  # aio_pika's default of 5 s leaves workers idle too long after a restart
MAX_ID = 2**63 - 1  # message ids are PostgreSQL bigint
DEAD_SUFFIX = ".dead"


def encode_batch(batch: Sequence[int]) -> bytes:
    """The message body of one batch.

    Raises:
        ValueError: the batch is empty (it would only be dead-lettered).
    """
    if not batch:
        raise ValueError("an empty batch cannot be published")
    return json.dumps({"ids": list(batch)}, separators=(",", ":")).encode()


def decode_batch(body: bytes) -> list[int] | None:
    """The ids of a message body, or None when it is not a non-empty list of bigint ids.

    Keys other than ``ids`` are ignored, so a newer publisher can add fields without its
    batches being dead-lettered by older workers.
    """
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):  # bad UTF-8 or JSON, or absurdly deep nesting
        return None
    ids = doc.get("ids") if isinstance(doc, dict) else None
    if not isinstance(ids, list) or not ids or not all(map(_is_id, ids)):
        return None
    return ids


def _is_id(value: object) -> bool:
    # bool is an int subclass: `true` in a body is not an id.
    return type(value) is int and 0 < value <= MAX_ID


def _check_name(name: str) -> None:
    if not name or name.startswith("amq.") or len((name + DEAD_SUFFIX).encode()) > 255:
        raise ValueError("queue name must be 1-250 bytes and not start with 'amq.'")


async def _declare(channel: AbstractRobustChannel, name: str, delivery_limit: int) -> AbstractQueue:
    """Declares the dead-letter queue and the work queue on ``channel``; returns the latter.

    Declared (not passively looked up) on every channel, so a robust channel re-creates them
    after a reconnect even if the broker lost them.
    """
    # Classic, not quorum: it only keeps poison for inspection (PostgreSQL is the truth), and a
    # quorum queue's delivery limit would drop poison that someone re-reads with requeue.
    await channel.declare_queue(
        name + DEAD_SUFFIX, durable=True, arguments={"x-queue-type": "classic"}
    )
    arguments: dict[str, Any] = {
        "x-queue-type": "quorum",
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": name + DEAD_SUFFIX,
    }
    return await channel.declare_queue(name, durable=True, arguments=arguments)


async def open_rabbit(
    url: str,
    name: str,
    delivery_limit: int,
    *,
    reconnect_interval: float = RECONNECT_INTERVAL,
) -> RabbitQueue:
    """Connects, declares the queues ``name`` and ``name + ".dead"``, and returns the queue.

    Args:
        url: the AMQP URL (it holds a password: never log it).
        name: the work queue's name; per test a unique one such as ``test.1a2b3c4d``.
        delivery_limit: returns of a batch (handler errors, lost consumers) before the broker
            dead-letters it; the batch is handed out ``delivery_limit + 1`` times at most.
        reconnect_interval: seconds between reconnection attempts.

    Raises:
        ValueError: the name is not a usable queue name.
        aio_pika.exceptions.AMQPError, OSError: the broker is unreachable or refused the
            declarations (for instance a different ``x-delivery-limit`` on an existing queue).
    """
    _check_name(name)
    connection = await aio_pika.connect_robust(
        url,
        reconnect_interval=reconnect_interval,
        client_properties={"connection_name": f"herald {name}"},
    )
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await _declare(channel, name, delivery_limit)
    except BaseException:
        await connection.close()
        raise
    return RabbitQueue(connection, channel, name, delivery_limit)


class RabbitQueue:
    """A :class:`herald.queue.base.Queue` on RabbitMQ; build it with :func:`open_rabbit`."""

    def __init__(
        self,
        connection: AbstractRobustConnection,
        channel: AbstractRobustChannel,
        name: str,
        delivery_limit: int,
    ) -> None:
        self._connection = connection
        self._channel = channel  # publishing only: consumers get their own channel
        self._name = name
        self._delivery_limit = delivery_limit
        self._consumers: list[RabbitConsumer] = []

    @property
    def name(self) -> str:
        return self._name

    async def publish(self, batches: Sequence[Sequence[int]]) -> None:
        """Publishes each batch as one persistent message; returns once all are confirmed.

        Raises:
            QueueError: a batch was nacked, returned as unroutable, timed out, or the channel
                was down; the others may still have been delivered.
            ValueError: a batch is empty.
        """
        messages = [_message(batch) for batch in batches]
        # One confirm round trip for the whole call rather than one per batch.
        results = await asyncio.gather(
            *(self._publish_one(message) for message in messages), return_exceptions=True
        )
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            logger.warning(
                "publish not confirmed",
                extra={"queue": self._name, "failed": len(failures), "error": repr(failures[0])},
            )
            raise QueueError(f"{len(failures)} of {len(messages)} batches not confirmed") from (
                failures[0]
            )

    async def _publish_one(self, message: aio_pika.Message) -> None:
        await self._channel.default_exchange.publish(
            message, routing_key=self._name, mandatory=True, timeout=PUBLISH_TIMEOUT
        )

    async def consume(self, handler: Handler, prefetch: int) -> RabbitConsumer:
        """Starts a consumer on its own channel with QoS ``prefetch``.

        Its own channel, so that stopping it returns its unacked batches to the queue at once
        (closing the channel) without touching the publishing channel.
        """
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        channel = await self._connection.channel(publisher_confirms=False)
        try:
            await channel.set_qos(prefetch_count=prefetch)
            queue = await _declare(channel, self._name, self._delivery_limit)
            consumer = RabbitConsumer(channel, queue, handler, prefetch)
            await consumer.start()
        except BaseException:
            await _close_channel(channel)
            raise
        self._consumers.append(consumer)
        return consumer

    async def ping(self) -> bool:
        """True when the connection is up and the broker answers for the queue; never raises."""
        transport = self._connection.transport
        if self._connection.is_closed or transport is None:
            return False
        try:
            async with asyncio.timeout(RPC_TIMEOUT):
                await self._probe(transport.connection)
        except Exception:
            return False
        return True

    async def _probe(self, connection: aiormq.abc.AbstractConnection) -> None:
        # A raw, non-robust channel: a 404 on the passive declare closes it for good instead of
        # making aio_pika reopen it, and the publishing channel is left alone.
        channel = await connection.channel(publisher_confirms=False)
        try:
            await channel.queue_declare(self._name, passive=True)
        finally:
            await channel.close()

    async def purge(self) -> None:
        """Drops every ready batch of both queues (for tests)."""
        for queue_name in (self._name, self._name + DEAD_SUFFIX):
            underlay = await self._channel.get_underlay_channel()
            await underlay.queue_purge(queue_name)

    async def delete(self) -> None:
        """Deletes both queues (for tests: each test's queues have their own name)."""
        for queue_name in (self._name, self._name + DEAD_SUFFIX):
            await self._channel.queue_delete(queue_name)

    async def close(self) -> None:
        """Stops consumers still running (no grace) and closes the connection."""
        for consumer in self._consumers:
            await consumer.stop(0)
        self._consumers.clear()
        if not self._connection.is_closed:
            await self._connection.close()


class RabbitConsumer:
    """Runs one task per delivery, at most ``prefetch`` handlers at once."""

    def __init__(
        self, channel: AbstractRobustChannel, queue: AbstractQueue, handler: Handler, prefetch: int
    ) -> None:
        self._channel = channel
        self._queue = queue
        self._handler = handler
        # QoS bounds deliveries per channel; after a reconnect the new channel gets a fresh
        # window while handlers of the old one may still run, so bound handlers here too.
        self._slots = asyncio.Semaphore(prefetch)
        self._tasks: set[asyncio.Task[None]] = set()
        self._tag: str | None = None
        self._stopping = False

    async def start(self) -> None:
        self._tag = await self._queue.consume(self._on_message)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        if self._stopping:
            return  # sent before the cancel took effect: unacked, returned when the channel closes
        # Our own task, not aio_pika's: aiormq cancels its callback tasks when the channel dies,
        # and a handler cut off in the middle of its database write helps nobody.
        task = asyncio.create_task(self._process(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        ids = decode_batch(message.body)
        if ids is None:
            logger.warning(
                "malformed batch dead-lettered",
                extra={"queue": self._queue.name, "size": len(message.body)},
            )
            await _settle(message.reject(requeue=False), self._queue.name)
            return
        async with self._slots:
            try:
                await self._handler(ids)
            except Exception:
                logger.exception(
                    "batch handler failed, batch returned to the queue",
                    extra={"queue": self._queue.name, "first_id": ids[0], "count": len(ids)},
                )
                await _settle(message.nack(requeue=True), self._queue.name)
                return
        await _settle(message.ack(), self._queue.name)

    async def stop(self, grace: float) -> None:
        """Cancels the broker consumer, waits up to ``grace`` s for handlers, cancels the rest.

        The consumer's channel is then closed, so the broker re-queues every batch that was not
        acked (a cancelled handler's batch, or one delivered while cancelling).
        """
        if self._stopping:
            return
        self._stopping = True
        await self._cancel_consumer()
        await _drain(self._tasks, grace, self._queue.name)
        await _close_channel(self._channel)

    async def _cancel_consumer(self) -> None:
        if self._tag is None:
            return
        # The robust queue forgets the consumer before the RPC, so even when the broker is
        # unreachable now, a later reconnect will not restart it.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(RPC_TIMEOUT):
                await self._queue.cancel(self._tag)


def _message(batch: Sequence[int]) -> aio_pika.Message:
    return aio_pika.Message(
        encode_batch(batch),
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        content_type="application/json",
    )


async def _settle(outcome: Awaitable[None], queue_name: str) -> None:
    """Sends an ack, nack or reject; on a channel that died since the delivery it cannot be."""
    try:
        await outcome
    except Exception as error:
        # The broker re-queues the delivery itself when the channel goes: nothing to do.
        logger.warning(
            "ack lost with its channel, the broker will redeliver the batch",
            extra={"queue": queue_name, "error": repr(error)},
        )


async def _drain(tasks: set[asyncio.Task[None]], grace: float, queue_name: str) -> None:
    """Waits up to ``grace`` seconds for ``tasks``, then cancels and awaits what is left."""
    if not tasks:
        return
    _, pending = await asyncio.wait(set(tasks), timeout=max(grace, 0))
    if not pending:
        return
    logger.warning(
        "handlers cancelled after the grace period",
        extra={"queue": queue_name, "count": len(pending)},
    )
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def _close_channel(channel: AbstractRobustChannel) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(RPC_TIMEOUT):
            await channel.close()
