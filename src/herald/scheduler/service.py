"""The scheduler process: wakes on NOTIFY and at least every poll interval.

Three loops run side by side so that a long fan-out never delays sending what is already
due, and a backlog of sends never delays starting a mailing on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from herald.config import Settings
from herald.queue.base import Queue
from herald.scheduler import tick
from herald.scheduler.window import Window
from herald.storage import events, mailings
from herald.storage.db import UNAVAILABLE, Connection, Pool

logger = logging.getLogger(__name__)

# Seconds between enqueue attempts when nothing was due or the broker held max_queued: short,
# so that retries fall due and a draining queue refills promptly; two cheap queries each.
IDLE_ENQUEUE_WAIT = 0.1
# Past a start_at or end_at, so that the database's now() has passed it when the loop runs.
CLOCK_SLACK = 0.01


class Scheduler:
    # Messages created after which the planner's statistics are refreshed (and at the end of a
    # fan-out): a large fan-out left unanalysed made each enqueue sort the whole backlog.
    analyze_after = 200_000

    def __init__(self, pool: Pool, queue: Queue, settings: Settings) -> None:
        self.pool, self.queue, self.settings = pool, queue, settings
        self.wake = asyncio.Event()
        self.fanned_out = asyncio.Event()
        self.ends_changed = asyncio.Event()
        self.unanalyzed = 0  # messages this scheduler created since it last ran ANALYZE
        self.window = Window(
            floor=max(1000, settings.batch_size * 10),
            ceiling=settings.max_queued,
            lease=settings.queue_lease,
        )

    async def fan_out_loop(self) -> None:
        """Starts due mailings between fan-out chunks, so a big fan-out delays no start."""
        while True:
            await tick.start_due(self.pool)
            created = await tick.fan_out_round(self.pool, self.settings.fanout_chunk)
            if created:
                self.fanned_out.set()
                self.unanalyzed += created
            if self.unanalyzed >= self.analyze_after or (created is None and self.unanalyzed):
                self.unanalyzed = 0
                await tick.analyze(self.pool)
            if created is None:
                await self._sleep_until(mailings.seconds_to_next_start, self.wake)

    async def enqueue_loop(self) -> None:
        while True:
            if not await tick.enqueue(self.pool, self.queue, self.settings, self.window):
                await _wait(self.fanned_out, IDLE_ENQUEUE_WAIT)

    async def maintain_loop(self) -> None:
        """Sweeps every poll interval, and at the next end_at so that expiry is on time."""
        while True:
            await tick.maintain(self.pool, self.settings, tick.TickReport())
            await self._sleep_until(mailings.seconds_to_next_end, self.ends_changed)

    async def _sleep_until(
        self, seconds_to: Callable[[Connection], Awaitable[float | None]], event: asyncio.Event
    ) -> None:
        """Until the instant ``seconds_to`` reads (a start, an end), a notice, or one poll."""
        async with self.pool.acquire() as conn:
            instant = await seconds_to(conn)
        timeout = self.settings.poll_interval
        if instant is not None:
            timeout = max(0.0, min(timeout, instant + CLOCK_SLACK))
        await _wait(event, timeout)

    def on_notify(self, *_: object) -> None:
        self.wake.set()
        self.fanned_out.set()
        self.ends_changed.set()


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)
    event.clear()


async def _forever(name: str, step: Callable[[], Awaitable[None]], backoff: float) -> None:
    """Runs a loop, restarting it after a failure (a database restart, say) with a pause."""
    while True:
        try:
            await step()
        except UNAVAILABLE as exc:
            logger.warning(
                "scheduler loop paused: database unavailable",
                extra={"loop": name, "error": repr(exc)},
            )
        except Exception:
            logger.exception("scheduler loop failed", extra={"loop": name})
        await asyncio.sleep(backoff)


@contextlib.asynccontextmanager
async def running(pool: Pool, queue: Queue, settings: Settings) -> AsyncIterator[Scheduler]:
    """Runs a scheduler for as long as the context is open."""
    scheduler = Scheduler(pool, queue, settings)
    async with events.listening(pool, events.CHANNEL, scheduler.on_notify):
        loops = [
            asyncio.create_task(
                _forever(name, step, settings.poll_interval), name=f"scheduler-{name}"
            )
            for name, step in (
                ("fan-out", scheduler.fan_out_loop),
                ("enqueue", scheduler.enqueue_loop),
                ("maintain", scheduler.maintain_loop),
            )
        ]
        logger.info("scheduler started")
        try:
            yield scheduler
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
    logger.info("scheduler stopped")
