"""Shared fixtures: a template database migrated once, a fresh copy per test, API clients.

PostgreSQL and RabbitMQ must answer: a missing service fails the run, it never skips tests.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx2
import pytest
from pydantic import SecretStr

from herald import logs
from herald.api.app import create_app
from herald.config import REPO_ROOT, Settings
from herald.storage.migrate import migrate
from tests import services

TEMPLATE = "herald_test_template"
API_TOKEN = "test-admin-token"


@pytest.fixture(scope="session", autouse=True)
def json_logs() -> Iterator[None]:
    """Every herald log call builds and formats its record, so a bad ``extra`` fails a test."""
    sink = open(os.devnull, "w")  # noqa: SIM115 - closed at the end of the session
    handler = logging.StreamHandler(sink)
    handler.setFormatter(logs.JsonFormatter())
    herald_logger = logging.getLogger("herald")
    herald_logger.addHandler(handler)
    herald_logger.setLevel(logging.DEBUG)
    yield
    herald_logger.removeHandler(handler)
    sink.close()


async def _admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(services.DATABASE_URL, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is not reachable at HERALD_TEST_DATABASE_URL: {exc!r}")


@pytest.fixture(scope="session")
async def template_db() -> str:
    """A database migrated once per session, copied by every test that needs one."""
    admin = await _admin()
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await admin.close()
    await migrate(services.database_url(TEMPLATE), REPO_ROOT / "migrations")
    return TEMPLATE


@pytest.fixture
async def db_url(template_db: str) -> AsyncIterator[str]:
    """A fresh migrated database for one test, dropped afterwards."""
    name = f"herald_t_{uuid.uuid4().hex[:12]}"
    admin = await _admin()
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
    finally:
        await admin.close()
    yield services.database_url(name)
    admin = await _admin()
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
def queue_name() -> str:
    return f"test.{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(db_url: str, queue_name: str, tmp_path: Path) -> Settings:
    """Settings for one test: its own database, in-process queue, no provider yet."""
    return Settings(
        database_url=SecretStr(db_url),
        api_token=SecretStr(API_TOKEN),
        queue_name=queue_name,
        data_dir=tmp_path / ".herald",
        db_pool_min=1,
        db_pool_max=5,
    )


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=5)
    assert pool is not None
    yield pool
    await pool.close()


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx2.AsyncClient]:
    """An authenticated client of the API, with the app's lifespan running."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://herald", headers=headers
        ) as client:
            yield client
