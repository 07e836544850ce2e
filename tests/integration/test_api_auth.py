"""Every /api/v1 route needs the bearer token; health, docs and the UI do not."""

from __future__ import annotations

import re

import httpx2
import pytest

from herald.api.app import create_app
from herald.config import Settings


def _api_routes(settings: Settings) -> list[tuple[str, str]]:
    spec = create_app(settings).openapi()
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, methods in spec["paths"].items()
        if path.startswith("/api/v1")
        for method in methods
    ]


@pytest.mark.parametrize("token", [None, "wrong", "test-admin-token-but-longer"])
async def test_every_api_route_refuses_a_missing_or_wrong_token(
    api: httpx2.AsyncClient, settings: Settings, token: str | None
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {"Authorization": ""}
    routes = _api_routes(settings)
    assert len(routes) >= 18
    for method, path in routes:
        r = await api.request(method, path, headers=headers)
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.headers["www-authenticate"] == "Bearer"


async def test_open_routes(api: httpx2.AsyncClient) -> None:
    bare = {"Authorization": ""}
    assert (await api.get("/healthz", headers=bare)).json() == {"status": "ok"}
    ready = await api.get("/readyz", headers=bare)
    assert ready.status_code == 200
    assert ready.json() == {"database": "ok", "broker": "ok"}
    assert "herald_provider_calls_total" in (await api.get("/metrics", headers=bare)).text
    assert (await api.get("/", headers=bare)).status_code == 200


async def test_docs_are_served_without_a_cdn(api: httpx2.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        html = (await api.get(page)).text
        assert "cdn." not in html
        assert "unpkg" not in html
        for asset in re.findall(r'(?:src|href)="(/[^"]+)"', html):
            assert (await api.get(asset)).status_code == 200, asset


async def test_every_route_documents_a_summary_and_its_errors(api: httpx2.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            assert op.get("summary"), (method, path)
            if path.startswith("/api/v1"):
                assert {"401", "422"} <= set(op["responses"]), (method, path)
