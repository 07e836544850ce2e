"""The schema and the SQL: every named query prepares, migrations are safe side by side,
and the database itself refuses what the rules forbid."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from herald.config import REPO_ROOT
from herald.domain.statuses import MessageStatus
from herald.storage import queries, stats
from tests import services


async def test_every_named_query_prepares(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(queries.load("clients")["import_stage"])
        for name, sql in queries.all_queries().items():
            try:
                await conn.prepare(sql)
            except asyncpg.PostgresError as exc:
                pytest.fail(f"{name}: {exc}")


async def test_two_migrate_processes_at_once(template_db: str) -> None:
    admin = await asyncpg.connect(services.DATABASE_URL)
    await admin.execute("DROP DATABASE IF EXISTS herald_migrate_race WITH (FORCE)")
    await admin.execute("CREATE DATABASE herald_migrate_race")
    url = services.database_url("herald_migrate_race")
    env = {"HERALD_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    try:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "herald",
                "migrate",
                env=env,
                cwd=REPO_ROOT,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
        ]
        results = [await p.communicate() for p in procs]
        assert [p.returncode for p in procs] == [0, 0], results
        conn = await asyncpg.connect(url)
        versions = await conn.fetch("SELECT version FROM schema_migrations")
        await conn.close()
        expected = sorted(p.stem for p in (REPO_ROOT / "migrations").glob("*.sql"))
        assert sorted(r["version"] for r in versions) == expected
    finally:
        await admin.execute("DROP DATABASE IF EXISTS herald_migrate_race WITH (FORCE)")
        await admin.close()


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("INSERT INTO clients (phone, operator_code) VALUES ('89001234567', '900')", "check"),
        ("INSERT INTO clients (phone, operator_code) VALUES ('79001234567', '90')", "check"),
        (
            "INSERT INTO mailings (text, start_at, end_at) VALUES ('x', now(), now())",
            "mailings_end_after_start",
        ),
    ],
)
async def test_database_refuses_broken_rows(pool: asyncpg.Pool, sql: str, error: str) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError, match=error):
            await conn.execute(sql)


async def test_one_message_per_mailing_and_client(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        cid = await conn.fetchval(
            "INSERT INTO clients (phone, operator_code) VALUES ('79001234567', '900') RETURNING id"
        )
        mid = await conn.fetchval(
            "INSERT INTO mailings (text, start_at, end_at) "
            "VALUES ('x', now(), now() + interval '1 hour') RETURNING id"
        )
        await conn.execute("INSERT INTO messages (mailing_id, client_id) VALUES ($1, $2)", mid, cid)
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO messages (mailing_id, client_id) VALUES ($1, $2)", mid, cid
            )
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("DELETE FROM clients WHERE id = $1", cid)


async def test_counters_equal_a_recount_after_random_changes(pool: asyncpg.Pool) -> None:
    """Random fan-outs and status changes from concurrent connections; then recount."""
    rng = random.Random(7)
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO clients (phone, operator_code) "
            "SELECT '7900' || lpad(i::text, 7, '0'), '900' FROM generate_series(1, 2000) i"
        )
        mailing_ids = [
            await conn.fetchval(
                "INSERT INTO mailings (text, start_at, end_at) "
                "VALUES ('x', now(), now() + interval '1 hour') RETURNING id"
            )
            for _ in range(3)
        ]
        for mid in mailing_ids:
            await conn.execute(
                "INSERT INTO messages (mailing_id, client_id) "
                "SELECT $1, id FROM clients WHERE random() < 0.7",
                mid,
            )
    statuses = [s.value for s in MessageStatus]

    async def churn(seed: int) -> None:
        local = random.Random(seed)
        async with pool.acquire() as conn:
            for _ in range(40):
                # Random rows in random order deadlock now and then; PostgreSQL rolls one
                # statement back, and the counters must stay exact through that too.
                with contextlib.suppress(asyncpg.DeadlockDetectedError):
                    await conn.execute(
                        "UPDATE messages SET status = $1::message_status "
                        "WHERE id IN (SELECT id FROM messages WHERE mailing_id = $2 "
                        "ORDER BY random() LIMIT $3)",
                        local.choice(statuses),
                        local.choice(mailing_ids),
                        local.randint(1, 200),
                    )

    await asyncio.gather(*(churn(rng.randint(0, 10**6)) for _ in range(4)))
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM messages WHERE id IN (SELECT id FROM messages LIMIT 50)")
        for mid in mailing_ids:
            assert await stats.one_mailing(conn, mid) == await stats.recount(conn, mid)


# A worker's statements must walk the primary key from their id arrays, not scan a mailing's
# queued (up to max_queued) or sending rows, with the plan made once per session of a worker's
# pool (``generic_plans``) and with one made per call (``herald serve``).
WORKER_STATEMENTS = {
    "claim": "('{5,6,7}', 60)",
    "write_back": "('{5}', '{1}', '{sent}', '{0}', '{f}', '{NULL}')",
    "unqueue": "('{5,6,7}')",
}


@pytest.mark.parametrize("mode", ["force_generic_plan", "force_custom_plan"])
@pytest.mark.parametrize("name", sorted(WORKER_STATEMENTS))
async def test_worker_statements_walk_the_primary_key(
    pool: asyncpg.Pool, name: str, mode: str
) -> None:
    plan = await _plan(pool, name, WORKER_STATEMENTS[name], mode)
    indexes = {node.get("Index Name") for node in _nodes(plan)}
    assert "messages_pkey" in indexes, plan
    assert not indexes & {"messages_by_mailing_status", "messages_leased"}, plan


# The scheduler's set-based updates pick their rows in a CTE, then update them found by id;
# joined to the CTE instead, the planner may walk the whole primary key (every row ever sent).
SCHEDULER_STATEMENTS = {
    "enqueue_due": "(5000, 60)",
    "rescue_expired_leases": "(5000, 5)",
}


@pytest.mark.parametrize("name", sorted(SCHEDULER_STATEMENTS))
async def test_scheduler_statements_find_their_rows_by_id(pool: asyncpg.Pool, name: str) -> None:
    plan = await _plan(pool, name, SCHEDULER_STATEMENTS[name], "auto", rows=100_000)
    messages = [n for n in _nodes(plan) if n.get("Relation Name") == "messages"]
    assert all(n["Node Type"] != "Seq Scan" for n in messages), plan
    by_key = [n for n in messages if n.get("Index Name") == "messages_pkey"]
    assert by_key, plan
    assert all("ANY" in n.get("Index Cond", "") for n in by_key), plan


async def _plan(
    pool: asyncpg.Pool, name: str, args: str, mode: str, rows: int = 20_000
) -> dict[str, Any]:
    """The plan of a named messages query over a mailing being sent, a quarter in hand."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO clients (phone, operator_code, tag)"
            f" SELECT '7' || lpad(i::text, 10, '0'), '900', '' FROM generate_series(1, {rows}) i;"
            "INSERT INTO mailings (text, start_at, end_at, status)"
            " VALUES ('x', now(), now() + interval '1 hour', 'running');"
            "INSERT INTO messages (mailing_id, client_id)"
            " SELECT (SELECT max(id) FROM mailings), id FROM clients;"
            # Statistics from just after the fan-out, as autovacuum would have them: no row
            # queued or sending yet. Then the enqueue and the claims, some leases run out.
            "ANALYZE clients; ANALYZE mailings; ANALYZE messages;"
            "UPDATE messages SET status = (CASE WHEN id % 100 = 1 THEN 'sending'"
            " ELSE 'queued' END)::message_status, lease_until = now() - interval '1 minute'"
            " WHERE id % 4 = 1;"
        )
        await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
        await conn.execute(f"PREPARE statement AS {queries.load('messages')[name]}")
        found: list[dict[str, Any]] = json.loads(
            await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE statement {args}")
        )
        await conn.execute("DEALLOCATE statement")
    return found[0]["Plan"]


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)
