"""The embedded defaults of ``herald serve``: a PostgreSQL in ``./.herald/``, a generated admin
token, and the fake provider, each used only when its setting is unset."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from herald.config import Settings

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """Starts PostgreSQL in ``data_dir/pg`` (pgserver) when no HERALD_DATABASE_URL is set."""
    if settings.database_url is not None:
        yield settings
        return
    import pgserver  # imported here: only the embedded default needs it

    pgdata = settings.data_dir.resolve() / "pg"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server: Any = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    logger.info("embedded PostgreSQL started", extra={"pgdata": str(pgdata)})
    try:
        yield settings.model_copy(update={"database_url": SecretStr(server.get_uri())})
    finally:
        server.cleanup()


def api_token(settings: Settings) -> Settings:
    """Reads, or generates once, the admin token kept in ``data_dir/api-token``."""
    if settings.api_token is not None:
        return settings
    path = token_file(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24))
    token = path.read_text().strip()
    return settings.model_copy(update={"api_token": SecretStr(token)})


@contextlib.asynccontextmanager
async def provider(settings: Settings) -> AsyncIterator[Settings]:
    """Runs the fake provider in this process when no HERALD_PROVIDER_URL is set."""
    if settings.provider_url is not None:
        yield settings
        return
    from herald.providers import fake

    token = secrets.token_urlsafe(16)
    server = await fake.start_fake_provider("127.0.0.1", settings.fake_provider_port, token)
    try:
        yield settings.model_copy(
            update={"provider_url": server.url, "provider_token": SecretStr(token)}
        )
    finally:
        await server.stop()


def token_file(settings: Settings) -> Path:
    return settings.data_dir / "api-token"
