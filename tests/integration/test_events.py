"""LISTEN survives the loss of its connection (a database restart, a failover)."""

from __future__ import annotations

import asyncio

import asyncpg

from herald.storage import events

CHANNEL = "test_channel"


async def test_listening_again_after_the_connection_is_lost(pool: asyncpg.Pool) -> None:
    got: asyncio.Queue[str] = asyncio.Queue()
    async with events.listening(pool, CHANNEL, lambda *args: got.put_nowait(args[-1])):
        killed = await pool.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
        assert killed == 1
        async with asyncio.timeout(10):
            while got.empty():  # notifications sent before the new LISTEN are lost: resend
                await pool.execute("SELECT pg_notify($1, 'after')", CHANNEL)
                await asyncio.sleep(0.1)
        assert await got.get() == "after"
