"""Seeds millions of messages with set-based SQL, checks the counters, times a recount."""

from __future__ import annotations

import time
from typing import Any

import asyncpg

from harness import latency_summary
from herald.storage import queries

# Out of every 100 messages of a mailing: most sent, a spread over every other status.
SPREAD = {
    "sent": 80,
    "failed": 8,
    "expired": 5,
    "cancelled": 3,
    "pending": 2,
    "queued": 1,
    "sending": 1,
}
STATUSES = [status for status, share in SPREAD.items() for _ in range(share)]

SEED_CLIENTS = """
INSERT INTO clients (phone, operator_code, tag, timezone)
SELECT '7' || lpad(g::text, 10, '0'), '9' || lpad((g % 100)::text, 2, '0'),
       (ARRAY['', 'vip', 'new'])[1 + g % 3], 'Europe/Moscow'
FROM generate_series(1, $1::int) AS g
"""
SEED_MAILINGS = """
INSERT INTO mailings (text, start_at, end_at, status, fanout_done)
SELECT 'Benchmark mailing ' || g, now() - interval '2 days', now() - interval '1 day',
       'finished', true
FROM generate_series(1, $1::int) AS g
RETURNING id
"""
# One mailing's messages in one statement: the statement-level trigger counts them once.
SEED_MESSAGES = """
INSERT INTO messages (mailing_id, client_id, status, attempts, sent_at)
SELECT $1::bigint, c.id, s.status, 1, CASE WHEN s.status = 'sent' THEN now() END
FROM clients AS c
CROSS JOIN LATERAL (
    SELECT ($2::message_status[])[1 + (c.id * 7 + $1::bigint) % 100] AS status
) AS s
"""
DIFFERENCES = """
SELECT count(*) FILTER (WHERE r.n IS DISTINCT FROM c.n) AS differences, count(*) AS pairs
FROM (SELECT mailing_id, status, count(*) AS n FROM messages GROUP BY 1, 2) AS r
FULL JOIN (SELECT mailing_id, status, n FROM message_counts WHERE n <> 0) AS c
    USING (mailing_id, status)
"""
RECOUNT_ALL = "SELECT mailing_id, status, count(*) FROM messages GROUP BY 1, 2"


async def seed(conn: asyncpg.Connection, messages: int, mailings: int) -> list[int]:
    """``messages / mailings`` clients, ``mailings`` finished mailings, one message per pair."""
    began = time.perf_counter()
    await conn.execute(SEED_CLIENTS, messages // mailings)
    ids = [r["id"] for r in await conn.fetch(SEED_MAILINGS, mailings)]
    for done, mailing_id in enumerate(ids, 1):
        await conn.execute(SEED_MESSAGES, mailing_id, STATUSES)
        if done % 10 == 0 or done == len(ids):
            elapsed = time.perf_counter() - began
            rows = done * (messages // mailings)
            print(
                f"seeded {done}/{len(ids)} mailings, {rows:,} messages, "
                f"{elapsed:.0f} s ({rows / elapsed:,.0f} rows/s)",
                flush=True,
            )
    vacuum = time.perf_counter()
    await conn.execute("VACUUM (ANALYZE) clients, mailings, messages, message_counts")
    print(f"VACUUM ANALYZE took {time.perf_counter() - vacuum:.0f} s", flush=True)
    return ids


async def check_counters(conn: asyncpg.Connection, messages: int) -> None:
    """Compares message_counts with a recount of the rows; raises on any difference."""
    row = await conn.fetchrow(DIFFERENCES)
    total = await conn.fetchval("SELECT sum(n)::bigint FROM message_counts")
    assert row is not None
    print(
        f"counter check: {row['pairs']} (mailing, status) pairs, "
        f"{row['differences']} differ from a recount; counters total {total:,} "
        f"(expected {messages:,})",
        flush=True,
    )
    if row["differences"] or total != messages:
        raise RuntimeError("message_counts does not equal a recount of messages")


async def _timed(conn: asyncpg.Connection, runs: list[tuple[Any, ...]]) -> list[float]:
    """Runs each (sql, argument) once untimed to warm the cache, then times each."""
    await conn.fetch(runs[0][0], *runs[0][1:])
    latencies = []
    for sql, *args in runs:
        began = time.perf_counter()
        await conn.fetch(sql, *args)
        latencies.append(time.perf_counter() - began)
    return latencies


async def time_counts(conn: asyncpg.Connection, mailing_ids: list[int]) -> list[list[object]]:
    """Counters against a recount from the rows, for one mailing and for all of them."""
    stats = queries.load("stats")
    one = [mailing_ids[i % len(mailing_ids)] for i in range(50)]
    cases = {
        "counters, one mailing (stats.counts_one)": [(stats["counts_one"], m) for m in one],
        "recount, one mailing (stats.recount_one)": [(stats["recount_one"], m) for m in one],
        "counters, all mailings (stats.counts_all)": [(stats["counts_all"],)] * 50,
        "recount, all messages (GROUP BY mailing, status)": [(RECOUNT_ALL,)] * 5,
    }
    rows: list[list[object]] = []
    for name, runs in cases.items():
        mean, p50, p99 = latency_summary(await _timed(conn, runs))
        rows.append([name, len(runs), f"{mean:.2f}", f"{p50:.2f}", f"{p99:.2f}"])
    return rows
