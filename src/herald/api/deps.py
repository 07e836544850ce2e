"""Request dependencies, as ``Annotated`` aliases."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from herald.resources import Resources
from herald.storage.db import Connection

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
