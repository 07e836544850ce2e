"""NOTIFY/LISTEN between the API and the schedulers."""

from __future__ import annotations

from datetime import datetime

from herald.storage import queries
from herald.storage.db import Connection

CHANNEL = "herald_wake"
END_CHANNEL = "herald_end"
Q = queries.load("events")


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
