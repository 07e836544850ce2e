"""General statistics, and processing active mailings on demand."""

from __future__ import annotations

from fastapi import APIRouter, Request

from herald.api.deps import Conn, Res
from herald.api.errors import responses
from herald.api.schemas import (
    DispatchReport,
    GeneralStats,
    MailingStats,
    PipelineOut,
    WorkerOut,
)
from herald.dispatch.worker import UNAUTHORIZED
from herald.domain.statuses import counts_from
from herald.scheduler import tick
from herald.storage import events, messages, stats, workers

router = APIRouter(tags=["statistics"])


@router.get(
    "/stats",
    summary="General statistics",
    description="Every mailing with its message counts by status (every status, zeros included).",
    responses=responses(),
)
async def general_stats(conn: Conn) -> GeneralStats:
    found = await stats.all_mailings(conn)
    items = [
        MailingStats(
            id=m.id,
            text=m.text,
            status=m.status,
            start_at=m.start_at,
            end_at=m.end_at,
            total=sum(m.counts.values()),
            counts=m.counts,
        )
        for m in found
    ]
    totals = counts_from((s, n) for m in found for s, n in m.counts.items())
    return GeneralStats(mailings=items, totals=totals)


@router.post(
    "/dispatch",
    summary="Process active mailings now",
    description=(
        "Starts the mailings that are due, fans them out, and hands due messages to the "
        "workers, without waiting for the scheduler's next wake-up. Safe beside running schedulers."
    ),
    responses=responses(),
)
async def dispatch(res: Res, request: Request, conn: Conn) -> DispatchReport:
    # An in-process queue reaches workers only when they run in this process (herald serve).
    shared = res.settings.amqp_url is not None or request.app.state.runs_pipeline
    report = await tick.run_once(res.pool, res.queue, res.settings, publish=shared)
    await events.wake_schedulers(conn, "dispatch")
    return DispatchReport(**report.as_dict())


HEARTBEAT_FRESH = 5.0  # seconds: a worker not heard from for longer is taken for dead


@router.get(
    "/pipeline",
    summary="The workers and the provider's state",
    description="What the workers last reported: their breakers, calls in flight, and so whether "
    "the provider is healthy, failing, or refusing our token.",
    responses=responses(),
)
async def pipeline(conn: Conn) -> PipelineOut:
    live = await workers.live(conn, HEARTBEAT_FRESH)
    return PipelineOut(
        provider=provider_state([w.breaker for w in live], [w.breaker_reason for w in live]),
        queued=await messages.queued_total(conn),
        workers=[WorkerOut.model_validate(w) for w in live],
    )


def provider_state(breakers: list[str], reasons: list[str | None]) -> str:
    if not breakers:
        return "unknown"
    if UNAUTHORIZED in reasons:
        return "paused"
    return "healthy" if all(b == "closed" for b in breakers) else "failing"
