"""Group commit of outcomes: every outcome waiting when a write starts goes in that write.

A send keeps its concurrency slot until its outcome is written, so the calls the provider
answered but the database does not know of are never more than the concurrency limit; that
is the bound on duplicates after a crash (design §3, guarantee 3). Grouping across batches
keeps that write to one statement per round trip instead of one per message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from herald.storage.messages import Outcome

WriteMany = Callable[[Sequence[Outcome]], Awaitable[dict[int, str]]]


class GroupWriter:
    def __init__(self, write_many: WriteMany, max_rows: int = 1000) -> None:
        self._write_many = write_many
        self._max_rows = max_rows
        self._waiting: list[tuple[Outcome, asyncio.Future[str | None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, outcome: Outcome) -> str | None:
        """Returns the status the row ended in, or None if the attempt fence refused it.

        Raises:
            Exception: whatever the write raised (the database stayed unavailable).
        """
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((outcome, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._waiting:
            group = self._waiting[: self._max_rows]
            del self._waiting[: self._max_rows]
            try:
                written = await self._write_many([outcome for outcome, _ in group])
            except Exception as exc:  # handed to every waiter, who re-raises it
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for outcome, future in group:
                if not future.done():
                    future.set_result(written.get(outcome.id))
