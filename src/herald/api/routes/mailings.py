"""Mailings: CRUD, lifecycle, reach preview and detailed statistics."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response

from herald.api.deps import Conn, retrying_deadlocks
from herald.api.errors import FieldError, responses
from herald.api.schemas import (
    MAX_ID,
    MailingCreate,
    MailingDetail,
    MailingFilter,
    MailingOut,
    MailingPage,
    MailingUpdate,
    MessageOut,
    OperatorCode,
    Preview,
    Tag,
)
from herald.domain.statuses import ACTIVE_MAILING, MailingStatus, MessageStatus
from herald.storage import clients, events, mailings, messages, stats
from herald.storage.db import Connection

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/mailings", tags=["mailings"])

MailingId = Annotated[int, Path(ge=1, le=MAX_ID, description="The mailing's id")]


async def _locked(conn: Connection, mailing_id: int) -> mailings.Mailing:
    mailing = await mailings.get(conn, mailing_id, for_update=True)
    if mailing is None:
        raise HTTPException(404, "no such mailing")
    return mailing


def _require_active(mailing: mailings.Mailing) -> None:
    if mailing.status not in ACTIVE_MAILING:
        raise HTTPException(409, f"the mailing is {mailing.status}")


@router.post("", status_code=201, summary="Create a mailing", responses=responses())
async def create_mailing(body: MailingCreate, conn: Conn) -> MailingOut:
    async with conn.transaction():
        mailing = await mailings.create(
            conn,
            body.text,
            body.filter.operator_codes,
            body.filter.tags,
            body.start_at,
            body.end_at,
        )
        await events.wake_schedulers(conn, f"created {mailing.id}")
    logger.info("mailing created", extra={"mailing_id": mailing.id})
    return MailingOut.of(mailing)


@router.get("", summary="List mailings, newest first, by cursor", responses=responses())
async def list_mailings(
    conn: Conn,
    status: MailingStatus | None = None,
    cursor: Annotated[
        int, Query(ge=1, le=MAX_ID, description="next_cursor of the last page")
    ] = MAX_ID,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> MailingPage:
    items = await mailings.list_page(conn, before=cursor, limit=limit, status=status)
    next_cursor = items[-1].id if len(items) == limit else None
    return MailingPage(items=[MailingOut.of(m) for m in items], next_cursor=next_cursor)


@router.get(
    "/preview", summary="How many clients a filter reaches (query form)", responses=responses()
)
async def preview_query(
    conn: Conn,
    operator_codes: Annotated[list[OperatorCode], Query(max_length=1000)] = [],  # noqa: B006
    tags: Annotated[list[Tag], Query(max_length=1000)] = [],  # noqa: B006
) -> Preview:
    return Preview(clients=await clients.count_matching(conn, operator_codes, tags))


@router.post("/preview", summary="How many clients a filter reaches", responses=responses())
async def preview(body: MailingFilter, conn: Conn) -> Preview:
    return Preview(clients=await clients.count_matching(conn, body.operator_codes, body.tags))


@router.get("/{mailing_id}", summary="Read a mailing", responses=responses(404))
async def get_mailing(mailing_id: MailingId, conn: Conn) -> MailingOut:
    mailing = await mailings.get(conn, mailing_id)
    if mailing is None:
        raise HTTPException(404, "no such mailing")
    return MailingOut.of(mailing)


@router.patch(
    "/{mailing_id}",
    summary="Change a mailing, even while it sends",
    description=(
        "A new text applies to messages not yet sent; a new `end_at` to every send not yet "
        "started; a new filter adds the clients that now match and cancels the unsent "
        "messages of those that no longer do."
    ),
    responses=responses(404, 409),
)
async def update_mailing(mailing_id: MailingId, body: MailingUpdate, conn: Conn) -> MailingOut:
    mailing = await retrying_deadlocks(lambda: _update(conn, mailing_id, body))
    logger.info("mailing updated", extra={"mailing_id": mailing_id})
    return MailingOut.of(mailing)


async def _update(conn: Connection, mailing_id: int, body: MailingUpdate) -> mailings.Mailing:
    async with conn.transaction():
        current = await _locked(conn, mailing_id)
        _require_active(current)
        _check_interval(body.start_at or current.start_at, body.end_at or current.end_at, body)
        new_filter = body.filter
        mailing = await mailings.update(
            conn,
            mailing_id,
            text=body.text,
            operator_codes=None if new_filter is None else new_filter.operator_codes,
            tags=None if new_filter is None else new_filter.tags,
            start_at=body.start_at,
            end_at=body.end_at,
        )
        if new_filter is not None:
            await messages.cancel_unmatched(conn, mailing_id)
        if body.end_at is not None:
            await events.end_moved(conn, mailing_id, body.end_at)
        await events.wake_schedulers(conn, f"updated {mailing_id}")
    assert mailing is not None  # locked above, so it still exists
    return mailing


def _check_interval(start_at: datetime, end_at: datetime, body: MailingUpdate) -> None:
    if end_at <= start_at:
        field = "end_at" if body.end_at is not None else "start_at"
        raise FieldError(field, "end_at must be later than start_at")


@router.delete(
    "/{mailing_id}",
    status_code=204,
    summary="Delete a mailing (its sending stops first)",
    responses=responses(404),
)
async def delete_mailing(mailing_id: MailingId, conn: Conn) -> Response:
    cancelled = await retrying_deadlocks(lambda: _delete(conn, mailing_id))
    logger.info("mailing deleted", extra={"mailing_id": mailing_id, "cancelled": cancelled})
    return Response(status_code=204)


async def _delete(conn: Connection, mailing_id: int) -> int:
    async with conn.transaction():
        await _locked(conn, mailing_id)
        await mailings.delete(conn, mailing_id)
        return await messages.cancel_for_mailing(conn, mailing_id)


@router.post("/{mailing_id}/pause", summary="Pause sending", responses=responses(404, 409))
async def pause_mailing(mailing_id: MailingId, conn: Conn) -> MailingOut:
    return await _transition(conn, mailing_id, MailingStatus.PAUSED, {"scheduled", "running"})


@router.post("/{mailing_id}/resume", summary="Resume sending", responses=responses(404, 409))
async def resume_mailing(mailing_id: MailingId, conn: Conn) -> MailingOut:
    return await _transition(conn, mailing_id, MailingStatus.RUNNING, {"paused"})


@router.post(
    "/{mailing_id}/cancel", summary="Cancel: nothing more is sent", responses=responses(404, 409)
)
async def cancel_mailing(mailing_id: MailingId, conn: Conn) -> MailingOut:
    return await _transition(conn, mailing_id, MailingStatus.CANCELLED, ACTIVE_MAILING)


async def _transition(
    conn: Connection, mailing_id: int, target: MailingStatus, allowed: set[str] | frozenset[str]
) -> MailingOut:
    mailing = await retrying_deadlocks(lambda: _set_status(conn, mailing_id, target, allowed))
    logger.info(
        "mailing status changed", extra={"mailing_id": mailing_id, "status": mailing.status}
    )
    return MailingOut.of(mailing)


async def _set_status(
    conn: Connection, mailing_id: int, target: MailingStatus, allowed: set[str] | frozenset[str]
) -> mailings.Mailing:
    async with conn.transaction():
        current = await _locked(conn, mailing_id)
        if current.status not in allowed:
            raise HTTPException(409, f"a {current.status} mailing cannot become {target}")
        if target == MailingStatus.RUNNING and current.start_at > datetime.now(UTC):
            target = MailingStatus.SCHEDULED  # resumed before its start: it starts on time
        mailing = await mailings.set_status(conn, mailing_id, target)
        if target == MailingStatus.CANCELLED:
            await messages.cancel_for_mailing(conn, mailing_id)
        await events.wake_schedulers(conn, f"{target} {mailing_id}")
    assert mailing is not None  # locked above, so it still exists
    return mailing


@router.get(
    "/{mailing_id}/stats",
    summary="Detailed statistics of one mailing",
    description="Counts by status (every status, zeros included) and a page of its messages, "
    "in client-id order (`cursor` is the last page's `next_cursor`).",
    responses=responses(404),
)
async def mailing_stats(
    mailing_id: MailingId,
    conn: Conn,
    status: MessageStatus | None = None,
    cursor: Annotated[int, Query(ge=0, le=MAX_ID, description="next_cursor of the last page")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> MailingDetail:
    mailing = await mailings.get(conn, mailing_id)
    if mailing is None:
        raise HTTPException(404, "no such mailing")
    counts = await stats.one_mailing(conn, mailing_id)
    page = await messages.list_for_mailing(
        conn, mailing_id, after=cursor, limit=limit, status=status
    )
    return MailingDetail(
        mailing=MailingOut.of(mailing),
        total=sum(counts.values()),
        counts=counts,
        messages=[MessageOut.model_validate(m) for m in page],
        next_cursor=page[-1].client_id if len(page) == limit else None,
    )
