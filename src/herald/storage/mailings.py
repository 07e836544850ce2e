"""Mailings: their rows, lifecycle and fan-out checkpoint."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from herald.storage import queries
from herald.storage.db import Connection

Q = queries.load("mailings")


@dataclasses.dataclass(frozen=True, slots=True)
class Mailing:
    id: int
    text: str
    filter_operator_codes: list[str]
    filter_tags: list[str]
    start_at: datetime
    end_at: datetime
    status: str
    created_at: datetime
    updated_at: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class FanoutCursor:
    mailing_id: int
    after: int


def _mailing(row: asyncpg.Record | None) -> Mailing | None:
    return Mailing(**dict(row)) if row is not None else None


async def create(
    conn: Connection,
    text: str,
    operator_codes: Sequence[str],
    tags: Sequence[str],
    start_at: datetime,
    end_at: datetime,
) -> Mailing:
    row = await conn.fetchrow(Q["create"], text, list(operator_codes), list(tags), start_at, end_at)
    mailing = _mailing(row)
    assert mailing is not None  # INSERT ... RETURNING always returns the row
    return mailing


async def get(conn: Connection, mailing_id: int, *, for_update: bool = False) -> Mailing | None:
    return _mailing(await conn.fetchrow(Q["get_for_update" if for_update else "get"], mailing_id))


async def update(
    conn: Connection,
    mailing_id: int,
    *,
    text: str | None = None,
    operator_codes: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
) -> Mailing | None:
    """Changes the given fields; a new filter makes the scheduler fan out again."""
    row = await conn.fetchrow(
        Q["update"],
        mailing_id,
        text,
        None if operator_codes is None else list(operator_codes),
        None if tags is None else list(tags),
        start_at,
        end_at,
    )
    return _mailing(row)


async def set_status(conn: Connection, mailing_id: int, status: str) -> Mailing | None:
    return _mailing(await conn.fetchrow(Q["set_status"], mailing_id, status))


async def delete(conn: Connection, mailing_id: int) -> bool:
    return await conn.fetchval(Q["delete"], mailing_id) is not None


async def list_page(
    conn: Connection, *, before: int, limit: int, status: str | None = None
) -> list[Mailing]:
    rows = await conn.fetch(Q["list"], before, status, limit)
    return [Mailing(**dict(r)) for r in rows]


async def start_due(conn: Connection) -> list[int]:
    return [r["id"] for r in await conn.fetch(Q["start_due"])]


async def fanout_pending(conn: Connection) -> list[int]:
    return [r["id"] for r in await conn.fetch(Q["fanout_pending"])]


async def lock_fanout(conn: Connection, mailing_id: int) -> FanoutCursor | None:
    """Locks a mailing for one fan-out chunk; None if done or another scheduler has it."""
    row = await conn.fetchrow(Q["lock_fanout"], mailing_id)
    return FanoutCursor(row["id"], row["fanout_after"]) if row is not None else None


async def save_fanout(conn: Connection, mailing_id: int, after: int, done: bool) -> None:
    await conn.execute(Q["save_fanout"], mailing_id, after, done)


async def finish_done(conn: Connection) -> list[int]:
    return [r["id"] for r in await conn.fetch(Q["finish_done"])]


async def seconds_to_next_start(conn: Connection) -> float | None:
    value: float | None = await conn.fetchval(Q["next_start"])
    return value


async def seconds_to_next_end(conn: Connection) -> float | None:
    value: float | None = await conn.fetchval(Q["next_end"])
    return value


async def seconds_left(conn: Connection, ids: Sequence[int]) -> dict[int, float]:
    return {r["id"]: r["seconds_left"] for r in await conn.fetch(Q["seconds_left"], list(ids))}
