"""Worker heartbeats: what the API knows of the workers and the provider's state."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from herald.storage import queries
from herald.storage.db import Connection

Q = queries.load("workers")


@dataclasses.dataclass(frozen=True, slots=True)
class Heartbeat:
    worker_id: str
    breaker: str
    breaker_reason: str | None
    in_flight: int
    calls: int
    started_at: datetime
    seen_at: datetime | None = None


async def beat(conn: Connection, hb: Heartbeat) -> None:
    await conn.execute(
        Q["beat"],
        hb.worker_id,
        hb.breaker,
        hb.breaker_reason,
        hb.in_flight,
        hb.calls,
        hb.started_at,
    )


async def forget(conn: Connection, worker_id: str) -> None:
    await conn.execute(Q["forget"], worker_id)


async def live(conn: Connection, within: float) -> list[Heartbeat]:
    return [Heartbeat(**dict(r)) for r in await conn.fetch(Q["live"], within)]
