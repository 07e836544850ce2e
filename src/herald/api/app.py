"""The FastAPI application: ``create_app(settings)``."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from herald.api import errors
from herald.api.deps import require_admin
from herald.api.routes import clients, health, mailings, stats
from herald.config import Settings
from herald.resources import Resources, open_resources

logger = logging.getLogger(__name__)

WEB = Path(__file__).resolve().parents[1] / "web"
Background = Callable[[Resources], contextlib.AbstractAsyncContextManager[Any]]


def create_app(settings: Settings, background: Background | None = None) -> FastAPI:
    """The API (and, for ``herald serve``, whatever ``background`` runs beside it).

    Args:
        settings: built by the caller; ``database_url`` and ``api_token`` must be set.
        background: entered after the resources open and left before they close (the
            scheduler and workers of ``herald serve``).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        name = "herald serve" if background else "herald api"
        async with open_resources(
            settings, provider=background is not None, name=name
        ) as resources:
            app.state.resources = resources
            async with background(resources) if background else contextlib.nullcontext():
                yield

    if settings.api_token is None:
        raise ValueError("HERALD_API_TOKEN is required")
    app = FastAPIOffline(
        title="Herald",
        version="0.1.0",
        description="A mailing service: clients, mailings, delivery and exact statistics.",
        lifespan=lifespan,
    )
    app.state.api_token = settings.api_token.get_secret_value()
    app.state.runs_pipeline = background is not None
    errors.install(app)
    app.add_middleware(RequestLog)
    api = [clients.router, mailings.router, stats.router]
    for router in api:
        app.include_router(router, prefix="/api/v1", dependencies=[Depends(require_admin)])
    app.include_router(health.router)
    _mount_ui(app)
    return app


def _mount_ui(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(WEB / "index.html")


class RequestLog:
    """One log record per request, as plain ASGI (BaseHTTPMiddleware cost 40 % of the CPU)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.monotonic()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": round((time.monotonic() - began) * 1000, 1),
                },
            )
