"""Where the test suite finds PostgreSQL and RabbitMQ (loopback defaults)."""

from __future__ import annotations

import os

DATABASE_URL = os.environ.get(
    "HERALD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
AMQP_URL = os.environ.get("HERALD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def database_url(name: str) -> str:
    """The test server's URL with another database name."""
    base, _, _ = DATABASE_URL.rpartition("/")
    return f"{base}/{name}"
