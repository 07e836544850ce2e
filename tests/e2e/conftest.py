"""The whole pipeline in the test's process: API → scheduler → queue → worker → fake provider
over HTTP, with the in-process queue or the real RabbitMQ."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest
from pydantic import SecretStr

from herald import pipeline
from herald.api.app import create_app
from herald.config import Settings
from herald.providers.fake import FakeProvider, start_fake_provider
from tests import services
from tests.conftest import API_TOKEN

PROVIDER_TOKEN = "provider-secret-token"
CONCURRENCY = 50


@pytest.fixture
async def fake() -> AsyncIterator[FakeProvider]:
    server = await start_fake_provider("127.0.0.1", 0, PROVIDER_TOKEN)
    yield server
    await server.stop()


@pytest.fixture(params=["memory", "rabbitmq"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def pipeline_settings(
    request: pytest.FixtureRequest, settings: Settings, fake: FakeProvider, backend: str
) -> Settings:
    """Fast retries and short leases, so that faults resolve within a test's few seconds.

    A test marked ``@pytest.mark.settings(field=value)`` changes those fields on top.
    """
    marker = request.node.get_closest_marker("settings")
    return settings.model_copy(
        update={
            "provider_url": fake.url,
            "provider_token": SecretStr(PROVIDER_TOKEN),
            "amqp_url": SecretStr(services.AMQP_URL) if backend == "rabbitmq" else None,
            "retry_base": 0.2,
            "retry_cap": 1.0,
            "max_attempts": 50,
            "breaker_threshold": 5,
            "breaker_cooldown": 0.3,
            "provider_timeout": 2.0,
            "concurrency": CONCURRENCY,
            # The fake provider shares this test's event loop with Herald, so a request sent
            # before the end is recorded as it is handled, one loop turn later; under a loaded
            # CI machine that lag reached 80 ms. Stop starting calls earlier than in production.
            "send_margin": 0.25,
            "db_pool_max": 10,
        }
        | (marker.kwargs if marker else {})
    )


@pytest.fixture
async def herald(pipeline_settings: Settings) -> AsyncIterator[httpx2.AsyncClient]:
    """An API client of a running Herald (API, scheduler and worker in this process)."""
    app = create_app(pipeline_settings, background=pipeline.running)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with httpx2.AsyncClient(
            transport=transport, base_url="http://herald", headers=headers, timeout=30
        ) as client:
            yield client
        queue = app.state.resources.queue
        if hasattr(queue, "delete"):
            await queue.delete()
