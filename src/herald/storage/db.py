"""The connection pool, and the error types the rest of Herald may catch."""

from __future__ import annotations

import asyncpg

Pool = asyncpg.Pool
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

# Errors that mean "the database is unreachable right now" (down, restarting, shutting down,
# out of connections): callers back off and retry.
UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    # A pooled connection whose backend was terminated can fail its next statement with
    # "cannot switch to state …" before asyncpg notices it is closed (asyncpg issue #1069).
    asyncpg.exceptions.InternalClientError,
)
# Errors after which the same statement, run again, succeeds: unavailability, and the rare
# deadlock between two set-based statements that touch the same rows in different orders.
DEADLOCK = asyncpg.exceptions.DeadlockDetectedError
TRANSIENT = (*UNAVAILABLE, DEADLOCK)


class Conflict(Exception):  # noqa: N818 - read as "raise Conflict(...)", like HTTP 409
    """A uniqueness rule refused the write; ``field`` names what collided."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skips asyncpg's reset query on release (a round trip per acquire on the hot path).

    Safe because Herald never leaves session state on a pooled connection: no SET, no
    advisory lock held past a call, LISTEN removed by its owner, temp tables ON COMMIT DROP.
    asyncpg still rolls back an open transaction and drops listeners before calling this.
    """


async def create_pool(
    dsn: str, min_size: int, max_size: int, name: str = "herald", generic_plans: bool = False
) -> asyncpg.Pool:
    """A pool whose connections fail fast when PostgreSQL is away.

    Args:
        name: the sessions' ``application_name``, so ``pg_stat_activity`` tells which Herald
            process holds them.
        generic_plans: plan each prepared statement once per session. PostgreSQL otherwise
            re-plans a statement whose parameters are arrays on every call (its generic plan's
            estimate for ``unnest($1)`` is worse than a custom one's), which cost a worker's
            claim and write-back 0.3-0.7 ms of database CPU each, more than running them. Only
            for a process whose every statement has a good generic plan (the worker's do:
            ``storage/sql/messages.sql`` says which); a prefix ``LIKE $1`` of the API has not.
    """
    settings = {"application_name": name}
    if generic_plans:
        settings["plan_cache_mode"] = "force_generic_plan"
    return await asyncpg.create_pool(
        dsn,
        server_settings=settings,
        min_size=min_size,
        max_size=max_size,
        timeout=5,
        command_timeout=60,
        reset=_keep_session,
    )
