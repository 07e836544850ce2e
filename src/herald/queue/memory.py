"""The in-process queue: the same Protocol as RabbitMQ for a single ``herald serve``.

It mirrors the broker's consumer side: at most ``prefetch`` handlers at once, a batch whose
handler raises (or is cancelled by ``stop``) goes back to the queue, and a batch returned more
than ``delivery_limit`` times goes to :attr:`MemoryQueue.dead`, as a quorum queue's delivery
limit does. Nothing survives the process, which is fine: PostgreSQL is the truth and the
scheduler's rescue re-enqueues what was lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from herald.queue.base import Handler, QueueError

logger = logging.getLogger(__name__)


@dataclass
class _Delivery:
    ids: list[int]
    returns: int = 0  # RabbitMQ's x-delivery-count: times the batch came back unacked


class MemoryQueue:
    """A :class:`herald.queue.base.Queue` held in an unbounded :class:`asyncio.Queue`.

    Unbounded because the scheduler already bounds what it enqueues, and a publish that could
    block forever would stall the scheduler instead of failing.
    """

    def __init__(self, delivery_limit: int) -> None:
        self._ready: asyncio.Queue[_Delivery] = asyncio.Queue()
        self._delivery_limit = delivery_limit
        self._consumers: list[MemoryConsumer] = []
        self._closed = False
        self.dead: list[list[int]] = []
        """Batches past the delivery limit, oldest first (the twin of ``<name>.dead``)."""

    @property
    def depth(self) -> int:
        """Batches waiting for a consumer (not those being handled)."""
        return self._ready.qsize()

    async def publish(self, batches: Sequence[Sequence[int]]) -> None:
        """Queues each batch.

        Raises:
            QueueError: the queue is closed.
            ValueError: a batch is empty.
        """
        if self._closed:
            raise QueueError("queue closed")
        if not all(batches):
            raise ValueError("an empty batch cannot be published")
        for batch in batches:
            self._ready.put_nowait(_Delivery(list(batch)))

    async def consume(self, handler: Handler, prefetch: int) -> MemoryConsumer:
        """Starts a consumer that runs ``handler`` for at most ``prefetch`` batches at once."""
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        consumer = MemoryConsumer(self._ready, self._return, handler, prefetch)
        self._consumers.append(consumer)
        return consumer

    def _return(self, delivery: _Delivery) -> None:
        delivery.returns += 1
        if delivery.returns <= self._delivery_limit:
            self._ready.put_nowait(delivery)
            return
        self.dead.append(delivery.ids)
        logger.warning(
            "batch dead-lettered after the delivery limit",
            extra={"first_id": delivery.ids[0], "count": len(delivery.ids)},
        )

    async def ping(self) -> bool:
        return not self._closed

    async def purge(self) -> None:
        """Drops every waiting batch and the dead ones."""
        while not self._ready.empty():
            self._ready.get_nowait()
        self.dead.clear()

    async def delete(self) -> None:
        """The same as :meth:`purge`: there is nothing else to delete."""
        await self.purge()

    async def close(self) -> None:
        """Stops consumers still running (no grace); later publishes raise QueueError."""
        self._closed = True
        for consumer in self._consumers:
            await consumer.stop(0)
        self._consumers.clear()


class MemoryConsumer:
    """Takes a batch only when one of its ``prefetch`` slots is free, like a QoS window."""

    def __init__(
        self,
        ready: asyncio.Queue[_Delivery],
        give_back: Callable[[_Delivery], None],
        handler: Handler,
        prefetch: int,
    ) -> None:
        self._ready = ready
        self._give_back = give_back
        self._handler = handler
        self._slots = asyncio.Semaphore(prefetch)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = False
        self._fetcher = asyncio.create_task(self._fetch())

    async def _fetch(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                delivery = await self._ready.get()
            except asyncio.CancelledError:
                self._slots.release()
                raise
            task = asyncio.create_task(self._process(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _process(self, delivery: _Delivery) -> None:
        try:
            await self._handler(list(delivery.ids))  # a copy: the handler may not alter a retry
        except Exception:
            logger.exception(
                "batch handler failed, batch returned to the queue",
                extra={"first_id": delivery.ids[0], "count": len(delivery.ids)},
            )
            self._give_back(delivery)
        except asyncio.CancelledError:
            self._give_back(delivery)  # what the broker does with an unacked delivery
            raise
        finally:
            self._slots.release()

    async def stop(self, grace: float) -> None:
        """Takes no more batches, waits up to ``grace`` s for handlers, cancels the rest.

        A cancelled handler's batch goes back to the queue (and counts as a return).
        """
        if self._stopped:
            return
        self._stopped = True
        self._fetcher.cancel()
        await asyncio.gather(self._fetcher, return_exceptions=True)
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=max(grace, 0))
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            logger.warning(
                "handlers cancelled after the grace period", extra={"count": len(pending)}
            )
