"""The scheduler process's own loops, against the real database."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from herald.config import Settings
from herald.queue.memory import MemoryQueue
from herald.scheduler import service


async def _analyzed(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval(
        "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'messages'"
    )
    return count


async def test_statistics_are_refreshed_after_a_large_fan_out(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    await pool.execute(
        "INSERT INTO clients (phone, operator_code, tag)"
        " SELECT '7' || lpad(i::text, 10, '0'), '900', '' FROM generate_series(1, 2500) i"
    )
    before = await _analyzed(pool)
    chunked = settings.model_copy(update={"fanout_chunk": 500})
    async with service.running(pool, MemoryQueue(delivery_limit=5), chunked) as scheduler:
        scheduler.analyze_after = 1000
        await pool.execute(
            "INSERT INTO mailings (text, start_at, end_at)"
            " VALUES ('x', now(), now() + interval '1 hour')"
        )
        await pool.execute("NOTIFY herald_wake")
        # Two refreshes: at 1,000 then at 2,000 messages; one more when the fan-out ends.
        deadline = time.monotonic() + 20
        while await _analyzed(pool) < before + 3:
            assert time.monotonic() < deadline, "statistics not refreshed three times"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
    assert await pool.fetchval("SELECT count(*) FROM messages") == 2500
    assert await _analyzed(pool) == before + 3
