"""NOTIFY/LISTEN between the API, the schedulers and the workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy

from herald.storage import queries
from herald.storage.db import UNAVAILABLE, Connection, Pool

logger = logging.getLogger(__name__)

CHANNEL = "herald_wake"
END_CHANNEL = "herald_end"
Q = queries.load("events")
RESUBSCRIBE_PAUSE = 1.0  # seconds between attempts while the database is away

Listener = Callable[..., None]  # asyncpg calls it with (connection, pid, channel, payload)
CatchUp = Callable[[], Awaitable[None]]


async def wake_schedulers(conn: Connection, reason: str) -> None:
    await conn.execute(Q["wake_schedulers"], reason)


async def ping(conn: Connection) -> bool:
    return bool(await conn.fetchval(Q["ping"]))


async def end_moved(conn: Connection, mailing_id: int, end_at: datetime) -> None:
    await conn.execute(Q["end_moved"], mailing_id, end_at)


def parse_end_moved(payload: str) -> tuple[int, float]:
    """``(mailing_id, seconds_left)`` from an ``end_moved`` notification."""
    mailing_id, seconds = payload.split()
    return int(mailing_id), float(seconds)


@contextlib.asynccontextmanager
async def listening(
    pool: Pool, channel: str, callback: Listener, catch_up: CatchUp | None = None
) -> AsyncIterator[None]:
    """Calls ``callback`` for each notification on ``channel`` while the block runs.

    The subscription holds a pooled connection of its own. When that connection is lost (a
    database restart), it subscribes again on a new one as soon as the database answers:
    otherwise a restart would silence the channel until the process restarts. What was
    notified between the loss and the new LISTEN is gone; ``catch_up`` runs once the new LISTEN
    is in place, to read from the tables what those notifications would have said.

    Raises:
        OSError, asyncpg.PostgresError: the first subscription failed (database unreachable).
    """
    subscription = await _Subscription.open(pool, channel, callback)
    keeper = asyncio.create_task(_keep(subscription, catch_up))
    try:
        yield
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper


class _Subscription:
    def __init__(
        self, pool: Pool, conn: PoolConnectionProxy[Record], channel: str, callback: Listener
    ) -> None:
        self.pool, self.conn, self.channel, self.callback = pool, conn, channel, callback
        self.lost = asyncio.Event()

    @classmethod
    async def open(cls, pool: Pool, channel: str, callback: Listener) -> _Subscription:
        conn = await pool.acquire()
        subscription = cls(pool, conn, channel, callback)
        try:
            conn.add_termination_listener(subscription._on_lost)
            await conn.add_listener(channel, callback)
        except BaseException:
            await subscription.close()
            raise
        return subscription

    def _on_lost(self, *_: Any) -> None:
        self.lost.set()

    async def close(self) -> None:
        """Unsubscribes and hands the connection back; a lost one the pool has taken back."""
        if not self.lost.is_set():
            with contextlib.suppress(*UNAVAILABLE):
                self.conn.remove_termination_listener(self._on_lost)
                await self.conn.remove_listener(self.channel, self.callback)
        await self.pool.release(self.conn)


async def _keep(subscription: _Subscription, catch_up: CatchUp | None) -> None:
    """Replaces the subscription each time its connection is lost, until cancelled."""
    try:
        while True:
            await subscription.lost.wait()
            await subscription.close()
            logger.warning("notification channel lost", extra={"channel": subscription.channel})
            subscription = await _resubscribe(subscription)
            logger.info(
                "notification channel listened to again", extra={"channel": subscription.channel}
            )
            if catch_up is not None:
                await _catch_up(catch_up, subscription.channel)
    finally:
        await subscription.close()


async def _catch_up(catch_up: CatchUp, channel: str) -> None:
    while True:
        try:
            await catch_up()
            return
        except UNAVAILABLE:
            await asyncio.sleep(RESUBSCRIBE_PAUSE)
        except Exception:
            logger.exception("could not catch up on a lost channel", extra={"channel": channel})
            return


async def _resubscribe(old: _Subscription) -> _Subscription:
    while True:
        try:
            return await _Subscription.open(old.pool, old.channel, old.callback)
        except UNAVAILABLE:
            pass
        except Exception:  # a channel that stays silent is worse than a log line a second
            logger.exception("could not listen again", extra={"channel": old.channel})
        await asyncio.sleep(RESUBSCRIBE_PAUSE)
