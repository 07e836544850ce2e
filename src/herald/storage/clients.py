"""The client directory."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from herald.storage import queries
from herald.storage.db import Conflict, Connection

Q = queries.load("clients")


@dataclasses.dataclass(frozen=True, slots=True)
class Client:
    id: int
    phone: str
    operator_code: str
    tag: str
    timezone: str
    created_at: datetime
    updated_at: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class ImportCounts:
    created: int
    updated: int


_PHONE_TAKEN = Conflict("phone", "a client with this phone already exists")


def _client(row: asyncpg.Record | None) -> Client | None:
    return Client(**dict(row)) if row is not None else None


async def create(conn: Connection, phone: str, operator_code: str, tag: str, tz: str) -> Client:
    """Adds a client.

    Raises:
        Conflict: a live client already has this phone.
    """
    try:
        row = await conn.fetchrow(Q["create"], phone, operator_code, tag, tz)
    except asyncpg.UniqueViolationError as exc:
        raise _PHONE_TAKEN from exc
    client = _client(row)
    assert client is not None  # INSERT ... RETURNING always returns the row
    return client


async def get(conn: Connection, client_id: int) -> Client | None:
    return _client(await conn.fetchrow(Q["get"], client_id))


async def update(
    conn: Connection,
    client_id: int,
    *,
    phone: str | None = None,
    operator_code: str | None = None,
    tag: str | None = None,
    timezone: str | None = None,
) -> Client | None:
    """Changes the given fields; None keeps a field as it is.

    Raises:
        Conflict: another live client has the new phone.
    """
    try:
        row = await conn.fetchrow(Q["update"], client_id, phone, operator_code, tag, timezone)
    except asyncpg.UniqueViolationError as exc:
        raise _PHONE_TAKEN from exc
    return _client(row)


async def delete(conn: Connection, client_id: int) -> bool:
    """Marks the client deleted; True if it existed. The caller cancels its messages."""
    return await conn.fetchval(Q["delete"], client_id) is not None


async def list_page(
    conn: Connection,
    *,
    after: int,
    limit: int,
    operator_code: str | None = None,
    tag: str | None = None,
    phone_prefix: str | None = None,
) -> list[Client]:
    rows = await conn.fetch(Q["list"], after, operator_code, tag, phone_prefix, limit)
    return [Client(**dict(r)) for r in rows]


async def count_matching(
    conn: Connection, operator_codes: Sequence[str], tags: Sequence[str]
) -> int:
    n: int = await conn.fetchval(Q["count_matching"], list(operator_codes), list(tags))
    return n


async def import_begin(conn: Connection) -> None:
    """Creates the staging table; call inside the import's transaction (it drops at commit)."""
    await conn.execute(Q["import_stage"])
    await conn.execute(Q["import_work_mem"])


async def import_copy(conn: Connection, rows: Sequence[tuple[int, str, str, str, str]]) -> None:
    """COPYs validated ``(line, phone, operator_code, tag, timezone)`` rows into the stage."""
    await conn.copy_records_to_table("client_import", records=rows)


async def import_merge(conn: Connection) -> ImportCounts:
    """Upserts the staged rows by live phone."""
    row = await conn.fetchrow(Q["import_merge"])
    assert row is not None
    return ImportCounts(created=row["created"], updated=row["updated"])
