"""The interface both queue backends give: batches of message ids, acked after the write."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

Handler = Callable[[list[int]], Awaitable[None]]


class Consumer(Protocol):
    async def stop(self, grace: float) -> None:
        """Stops taking batches, waits up to ``grace`` seconds for the handlers running now."""
        ...


class Queue(Protocol):
    async def publish(self, batches: Sequence[Sequence[int]]) -> None:
        """Publishes each batch as one broker message; returns once all are confirmed.

        Raises:
            QueueError: a batch was not confirmed (nacked, returned as unroutable, or the
                connection dropped); the caller leaves those rows to the lease rescue.
        """
        ...

    async def consume(self, handler: Handler, prefetch: int) -> Consumer:
        """Calls ``handler(ids)`` for each batch, at most ``prefetch`` at once.

        A batch is acked after the handler returns; if it raises, the batch is returned to the
        queue (the broker's delivery limit then dead-letters a poison batch). A body that is not
        a batch of ids is dead-lettered at once.
        """
        ...

    async def ping(self) -> bool:
        """True when the broker is reachable (for /readyz)."""
        ...

    async def close(self) -> None: ...


class QueueError(Exception):
    """A publish that the broker did not confirm."""
