"""Forward-only migrations from ``migrations/NNNN_*.sql``, each in its own transaction.

An advisory lock makes two processes that start together safe: the second waits, then finds
nothing left to apply.
"""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg

logger = logging.getLogger(__name__)

_LOCK_KEY = 0x6865_7261_6C64  # "herald"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def pending_files(directory: Path, applied: set[str]) -> list[Path]:
    """The migration files not yet applied, in order of their names."""
    return [p for p in sorted(directory.glob("*.sql")) if p.stem not in applied]


async def migrate(dsn: str, directory: Path) -> list[str]:
    """Applies every pending migration; returns the versions applied by this call."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            return await _apply_pending(conn, directory)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()


async def _apply_pending(conn: asyncpg.Connection, directory: Path) -> list[str]:
    await conn.execute(_CREATE_TABLE)
    applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    done = []
    for path in pending_files(directory, applied):
        async with conn.transaction():
            await conn.execute(path.read_text(encoding="utf-8"))
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", path.stem)
        logger.info("migration applied", extra={"version": path.stem})
        done.append(path.stem)
    return done
