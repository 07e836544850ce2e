"""The dashboard follows the provider: a refused token pauses sending, and it resumes by itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx2
import pytest
from playwright.async_api import Page, expect

from tests.browser import steps
from tests.browser.conftest import Server


@pytest.fixture
async def provider(server: Server) -> AsyncIterator[httpx2.AsyncClient]:
    """The fake provider's control API; its faults are cleared whatever the test did."""
    async with httpx2.AsyncClient(base_url=server.provider_url) as client:
        yield client
        answer = await client.put("/_control", json={"unauthorized": False})
        assert answer.status_code == 200, answer.text


async def test_a_provider_refusing_our_token_shows_as_paused_until_it_accepts_it(
    signed_in: Page, api: httpx2.AsyncClient, provider: httpx2.AsyncClient
) -> None:
    page = signed_in
    state = page.get_by_label("Provider").locator(".state")
    await expect(state).to_have_text("healthy")
    tag = steps.unique_tag()
    await steps.seed_clients(api, tag, 20)
    assert (await provider.put("/_control", json={"unauthorized": True})).status_code == 200
    now = datetime.now(UTC)
    created = await api.post(
        "/mailings",
        json={
            "text": "Through a closed door",
            "filter": {"tags": [tag]},
            "start_at": now.isoformat(),
            "end_at": (now + timedelta(hours=1)).isoformat(),
        },
    )
    row = page.locator(f'table.mailings tr[data-id="{created.json()["id"]}"]')
    await expect(state).to_have_text("paused")
    await expect(page.get_by_text("The provider refused our token")).to_be_visible()
    await expect(row.locator(".summary")).to_have_text("0 sent · 20 pending of 20")
    await steps.screenshot(page, "dashboard-provider-paused")

    assert (await provider.put("/_control", json={"unauthorized": False})).status_code == 200
    await expect(state).to_have_text("healthy", timeout=15_000)
    await expect(row.locator(".pct")).to_have_text("100 %", timeout=15_000)
    await expect(row.locator(".summary")).to_have_text("20 sent of 20")
