"""The scheduler's steps, each safe to run from any number of processes at once."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from herald.config import Settings
from herald.queue.base import Queue, QueueError
from herald.scheduler.window import Window
from herald.storage import mailings, messages
from herald.storage.db import Pool

logger = logging.getLogger(__name__)

ENQUEUE_STATEMENT_MAX = 5_000  # rows one enqueue statement takes: short row locks
RESCUE_MAX = 10_000


@dataclasses.dataclass(slots=True)
class TickReport:
    started: int = 0
    fanned_out: int = 0
    enqueued: int = 0
    rescued: int = 0
    expired: int = 0
    finished: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


async def start_due(pool: Pool) -> int:
    async with pool.acquire() as conn:
        started = await mailings.start_due(conn)
    for mailing_id in started:
        logger.info("mailing started", extra={"mailing_id": mailing_id})
    return len(started)


async def fan_out_chunk(pool: Pool, mailing_id: int, chunk: int) -> int | None:
    """Fans out one chunk of one mailing and saves the checkpoint in the same transaction.

    Returns:
        The number of messages created, or None when the fan-out is complete or another
        scheduler holds it.
    """
    async with pool.acquire() as conn, conn.transaction():
        cursor = await mailings.lock_fanout(conn, mailing_id)
        if cursor is None:
            return None
        result = await messages.fan_out_chunk(conn, mailing_id, cursor.after, chunk)
        done = result.matched < chunk
        await mailings.save_fanout(conn, mailing_id, result.last_id or cursor.after, done)
    logger.info(
        "fan-out chunk",
        extra={
            "mailing_id": mailing_id,
            "messages_created": result.inserted,
            "after": result.last_id,
            "done": done,
        },
    )
    return result.inserted


async def fan_out_round(pool: Pool, chunk: int) -> int | None:
    """One chunk of every mailing whose fan-out is unfinished.

    Returns:
        The messages created, or None when no fan-out is left (or others hold them all).
    """
    async with pool.acquire() as conn:
        pending = await mailings.fanout_pending(conn)
    results = [await fan_out_chunk(pool, mailing_id, chunk) for mailing_id in pending]
    done = [n for n in results if n is not None]
    return sum(done) if done else None


async def analyze(pool: Pool) -> None:
    async with pool.acquire() as conn:
        done = await messages.analyze(conn)
    logger.info("statistics refreshed" if done else "statistics not refreshed: table busy")


async def fan_out_all(pool: Pool, chunk: int) -> int:
    """Fans out every unfinished mailing completely, round by round."""
    created = 0
    while (n := await fan_out_round(pool, chunk)) is not None:
        created += n
    return created


async def enqueue(
    pool: Pool, queue: Queue, settings: Settings, window: Window | None = None
) -> int:
    """Hands due messages to the broker while fewer than the window's size wait there.

    Args:
        window: the adaptive bound of a running scheduler; ``max_queued`` without one.
    """
    async with pool.acquire() as conn:
        queued = await messages.queued_total(conn)
        if window is not None:
            window.observe(queued)
        limit = window.size() if window else settings.max_queued
        room = limit - queued
        # Top up in bulk, not a few ids at a time: tiny broker messages cost as much as full ones.
        if room < min(limit // 2, ENQUEUE_STATEMENT_MAX):
            return 0
        ids = await messages.enqueue_due(
            conn, min(room, ENQUEUE_STATEMENT_MAX), settings.queue_lease
        )
    if ids:
        await publish(pool, queue, ids, settings.batch_size)
        if window is not None:
            window.enqueued(len(ids))
    return len(ids)


async def publish(pool: Pool, queue: Queue, ids: Sequence[int], batch_size: int) -> None:
    """Publishes ids in batches; what the broker did not confirm goes back to pending."""
    batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
    try:
        await queue.publish(batches)
    except QueueError:
        logger.warning("publish not confirmed; messages back to pending", extra={"count": len(ids)})
        async with pool.acquire() as conn:
            await messages.unqueue(conn, ids)
        return
    logger.info(
        "enqueued",
        extra={
            "count": len(ids),
            "batches": len(batches),
            "first_message_id": ids[0],
            "last_message_id": ids[-1],
        },
    )


async def rescue(pool: Pool, settings: Settings) -> int:
    async with pool.acquire() as conn:
        rescued = await messages.rescue_expired_leases(conn, RESCUE_MAX, settings.max_attempts)
    for message_id, mailing_id, status in rescued:
        logger.warning(
            "lease expired",
            extra={"message_id": message_id, "mailing_id": mailing_id, "status": status},
        )
    return len(rescued)


async def expire(pool: Pool) -> int:
    async with pool.acquire() as conn:
        expired = await messages.expire_ended(conn)
    for mailing_id, n in expired.items():
        logger.info("messages expired", extra={"mailing_id": mailing_id, "count": n})
    return sum(expired.values())


async def finish(pool: Pool) -> int:
    async with pool.acquire() as conn:
        finished = await mailings.finish_done(conn)
    for mailing_id in finished:
        logger.info("mailing finished", extra={"mailing_id": mailing_id})
    return len(finished)


async def maintain(pool: Pool, settings: Settings, report: TickReport) -> None:
    """Rescue, expiry and finishing: the slow, periodic part of a tick."""
    report.rescued += await rescue(pool, settings)
    report.expired += await expire(pool)
    report.finished += await finish(pool)


async def run_once(
    pool: Pool, queue: Queue, settings: Settings, *, publish: bool = True
) -> TickReport:
    """Every step once, in pipeline order (``POST /dispatch`` and tests use it).

    Args:
        publish: hand due messages to the queue too; off in an API process that has no broker
            to share with workers (the schedulers enqueue, woken by the caller's NOTIFY).
    """
    report = TickReport()
    report.started = await start_due(pool)
    report.fanned_out = await fan_out_all(pool, settings.fanout_chunk)
    await maintain(pool, settings, report)
    while publish and (n := await enqueue(pool, queue, settings)):
        report.enqueued += n
    return report
