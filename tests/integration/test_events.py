"""LISTEN survives the loss of its connection (a database restart, a failover), and catches
up on what it missed meanwhile."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from herald.dispatch import service
from herald.dispatch.deadlines import Deadlines
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


async def test_catching_up_once_listening_again(pool: asyncpg.Pool) -> None:
    listening_when_caught_up: list[int] = []
    caught_up = asyncio.Event()

    async def catch_up() -> None:
        listening_when_caught_up.append(
            await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        )
        caught_up.set()

    async with events.listening(pool, CHANNEL, lambda *args: None, catch_up):
        await pool.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
        await asyncio.wait_for(caught_up.wait(), 10)
    assert listening_when_caught_up == [1]


async def test_a_worker_catching_up_cuts_its_calls_at_an_end_it_was_not_told_of(
    pool: asyncpg.Pool,
) -> None:
    mailing_id = await pool.fetchval(
        "INSERT INTO mailings (text, start_at, end_at, status)"
        " VALUES ('x', now(), now() + interval '1 hour', 'running') RETURNING id"
    )
    deadlines = Deadlines()

    async def call() -> None:
        async with deadlines.bounded(mailing_id):
            await asyncio.sleep(3)

    under_way = asyncio.create_task(call())
    await asyncio.sleep(0)
    # The end moves while the worker's channel is down: the notice reaches no one.
    await pool.execute(
        "UPDATE mailings SET end_at = now() + interval '0.3 seconds' WHERE id = $1", mailing_id
    )
    started = time.monotonic()
    await service.read_ends(pool, deadlines)
    with pytest.raises(TimeoutError):
        await under_way
    assert 0.2 < time.monotonic() - started < 1.0
