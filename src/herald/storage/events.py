"""NOTIFY/LISTEN between the API and the schedulers."""

from __future__ import annotations

from herald.storage import queries
from herald.storage.db import Connection

CHANNEL = "herald_wake"
Q = queries.load("events")


async def wake_schedulers(conn: Connection, reason: str) -> None:
    await conn.execute(Q["wake_schedulers"], reason)


async def ping(conn: Connection) -> bool:
    return bool(await conn.fetchval(Q["ping"]))
