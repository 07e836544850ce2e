"""Liveness, readiness and metrics: outside /api/v1, without a token."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from herald import metrics as _metrics  # noqa: F401 - registers Herald's metrics
from herald.api.deps import Res
from herald.storage import events

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database and the broker answer",
    responses={503: {"description": "A dependency is down"}},
)
async def readyz(res: Res) -> JSONResponse:
    database = await _database_ok(res)
    broker = await res.queue.ping()
    body = {"database": "ok" if database else "down", "broker": "ok" if broker else "down"}
    return JSONResponse(body, status_code=200 if database and broker else 503)


async def _database_ok(res: Res) -> bool:
    try:
        async with asyncio.timeout(2):
            async with res.pool.acquire() as conn:
                await events.ping(conn)
    except Exception:
        return False
    return True


@router.get("/metrics", summary="Prometheus metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
