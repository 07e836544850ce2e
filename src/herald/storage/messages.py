"""Messages: fan-out, the status transitions of the pipeline, and their listing."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from herald.storage import queries
from herald.storage.db import Connection

Q = queries.load("messages")


@dataclasses.dataclass(frozen=True, slots=True)
class FanoutChunk:
    last_id: int | None  # the checkpoint to save; None when no client was left
    matched: int
    inserted: int


@dataclasses.dataclass(frozen=True, slots=True)
class Claimed:
    """A message as a worker claimed it (status ``sending``) or settled it at claim time."""

    id: int
    status: str
    attempts: int
    mailing_id: int
    client_id: int
    phone: str
    text: str
    seconds_left: float  # until the mailing's end_at, by the database clock


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What the worker writes back for one claimed message."""

    id: int
    attempts: int  # the attempt number of the claim: the fence
    status: str  # sent, failed, or pending for a retry
    delay: float = 0.0  # seconds before a retry
    release: bool = False  # not the message's fault: the attempt is given back
    error: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    id: int
    mailing_id: int
    client_id: int
    phone: str
    status: str
    created_at: datetime
    sent_at: datetime | None
    attempts: int
    last_error: str | None
    updated_at: datetime


async def fan_out_chunk(conn: Connection, mailing_id: int, after: int, limit: int) -> FanoutChunk:
    row = await conn.fetchrow(Q["fan_out_chunk"], mailing_id, after, limit)
    assert row is not None
    return FanoutChunk(row["last_id"], row["matched"], row["inserted"])


async def cancel_unmatched(conn: Connection, mailing_id: int) -> int:
    return _count(await conn.execute(Q["cancel_unmatched"], mailing_id))


async def cancel_unmatched_for_client(conn: Connection, client_id: int) -> int:
    return _count(await conn.execute(Q["cancel_unmatched_for_client"], client_id))


async def cancel_for_mailing(conn: Connection, mailing_id: int) -> int:
    return _count(await conn.execute(Q["cancel_for_mailing"], mailing_id))


async def cancel_for_client(conn: Connection, client_id: int) -> int:
    return _count(await conn.execute(Q["cancel_for_client"], client_id))


async def analyze(conn: Connection) -> bool:
    """Refreshes the planner's statistics of messages; False if a vacuum held the table."""
    try:
        async with conn.transaction():
            await conn.execute(Q["lock_briefly"])
            await conn.execute(Q["analyze"])
    except asyncpg.exceptions.LockNotAvailableError:
        return False
    return True


async def enqueue_due(conn: Connection, limit: int, lease: float) -> list[int]:
    return [r["id"] for r in await conn.fetch(Q["enqueue_due"], limit, lease)]


async def unqueue(conn: Connection, ids: Sequence[int]) -> int:
    return _count(await conn.execute(Q["unqueue"], list(ids)))


async def queued_total(conn: Connection) -> int:
    n: int = await conn.fetchval(Q["queued_total"])
    return n


async def claim(conn: Connection, ids: Sequence[int], lease: float) -> list[Claimed]:
    return [Claimed(**dict(r)) for r in await conn.fetch(Q["claim"], list(ids), lease)]


async def write_back(conn: Connection, outcomes: Sequence[Outcome]) -> dict[int, str]:
    """Writes a batch's outcomes; returns the status each accepted row ended in.

    A row missing from the result was refused by the fence (its lease was lost).
    """
    rows = await conn.fetch(
        Q["write_back"],
        [o.id for o in outcomes],
        [o.attempts for o in outcomes],
        [o.status for o in outcomes],
        [o.delay for o in outcomes],
        [o.release for o in outcomes],
        [o.error for o in outcomes],
    )
    return {r["id"]: r["status"] for r in rows}


async def rescue_expired_leases(
    conn: Connection, limit: int, max_attempts: int
) -> list[tuple[int, int, str]]:
    """Returns ``(message_id, mailing_id, new_status)`` of every row taken back."""
    rows = await conn.fetch(Q["rescue_expired_leases"], limit, max_attempts)
    return [(r["id"], r["mailing_id"], r["status"]) for r in rows]


async def expire_ended(conn: Connection) -> dict[int, int]:
    """Expires the unsent messages of ended mailings; returns counts by mailing."""
    return {r["mailing_id"]: r["n"] for r in await conn.fetch(Q["expire_ended"])}


async def list_for_mailing(
    conn: Connection, mailing_id: int, *, after: int, limit: int, status: str | None = None
) -> list[Message]:
    """A page of a mailing's messages in client-id order, after client id ``after``."""
    if status is None:
        rows = await conn.fetch(Q["list_for_mailing"], mailing_id, after, limit)
    else:
        rows = await conn.fetch(Q["list_for_mailing_status"], mailing_id, status, after, limit)
    return [Message(**dict(r)) for r in rows]


def _count(command_tag: str) -> int:
    """The row count of an ``UPDATE n`` command tag."""
    return int(command_tag.rsplit(" ", 1)[-1])
