"""Request dependencies, as ``Annotated`` aliases."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from herald.resources import Resources
from herald.storage.db import DEADLOCK, Connection

logger = logging.getLogger(__name__)
T = TypeVar("T")
DEADLOCK_ATTEMPTS = 3

_bearer = HTTPBearer(auto_error=False, description="The admin token (HERALD_API_TOKEN)")


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


async def get_conn(request: Request) -> AsyncIterator[Connection]:
    async with get_resources(request).pool.acquire(timeout=5) as conn:
        yield conn


def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Constant-time comparison of the bearer token with HERALD_API_TOKEN."""
    expected: str = request.app.state.api_token
    given = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})


Res = Annotated[Resources, Depends(get_resources)]
Conn = Annotated[Connection, Depends(get_conn)]
CurrentAdmin = Depends(require_admin)


async def retrying_deadlocks(transaction: Callable[[], Awaitable[T]]) -> T:
    """Runs one transaction again when PostgreSQL aborted it to break a deadlock.

    The cancels lock unsent messages in id order, as claims and expiry do (messages.sql), so
    they do not wait for those in a cycle; this is the net under that rule for whatever else two
    transactions may hold (a mailing's row, its counters). The transaction PostgreSQL picks to
    break a cycle has changed nothing, and runs again. Raises DeadlockDetectedError after
    DEADLOCK_ATTEMPTS (a 503).
    """
    for attempt in range(1, DEADLOCK_ATTEMPTS):
        try:
            return await transaction()
        except DEADLOCK:
            logger.warning(
                "transaction aborted to break a deadlock; again", extra={"attempt": attempt}
            )
    return await transaction()
