"""Counts by status, read from the trigger-kept counters (and recounted for checks)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from herald.domain.statuses import counts_from
from herald.storage import queries
from herald.storage.db import Connection

Q = queries.load("stats")


@dataclasses.dataclass(frozen=True, slots=True)
class MailingCounts:
    id: int
    text: str
    status: str
    start_at: datetime
    end_at: datetime
    counts: dict[str, int]


async def all_mailings(conn: Connection) -> list[MailingCounts]:
    """Every live mailing, newest first, with every status counted (zeros included)."""
    found: dict[int, MailingCounts] = {}
    for r in await conn.fetch(Q["counts_all"]):
        item = found.get(r["id"])
        if item is None:
            item = MailingCounts(
                r["id"], r["text"], r["status"], r["start_at"], r["end_at"], counts_from(())
            )
            found[r["id"]] = item
        if r["message_status"] is not None:
            item.counts[r["message_status"]] += r["n"]
    return list(found.values())


async def one_mailing(conn: Connection, mailing_id: int) -> dict[str, int]:
    return counts_from((r["status"], r["n"]) for r in await conn.fetch(Q["counts_one"], mailing_id))


async def recount(conn: Connection, mailing_id: int) -> dict[str, int]:
    """The counts from the message rows themselves: slow, exact, for checks."""
    rows = await conn.fetch(Q["recount_one"], mailing_id)
    return counts_from((r["status"], r["count"]) for r in rows)
