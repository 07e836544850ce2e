"""The client directory: CRUD, filtered listing, CSV import."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from herald.api.deps import Conn, retrying_deadlocks
from herald.api.errors import FieldError, responses
from herald.api.schemas import (
    MAX_ID,
    ClientCreate,
    ClientOut,
    ClientPage,
    ClientUpdate,
    ImportLineError,
    ImportReport,
)
from herald.domain import clients as rules
from herald.domain import csv_import
from herald.storage import clients, messages
from herald.storage.db import Connection

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/clients", tags=["clients"])

ClientId = Annotated[int, Path(ge=1, le=MAX_ID, description="The client's id")]
IMPORT_MAX_BYTES = 64 * 1024 * 1024
IMPORT_CHUNK_ROWS = 50_000
CSV_EXAMPLE = "phone,operator_code,tag,timezone\n79001234567,900,vip,Europe/Moscow\n"


def _found(client: clients.Client | None) -> ClientOut:
    if client is None:
        raise HTTPException(404, "no such client")
    return ClientOut.model_validate(client)


@router.post("", status_code=201, summary="Add a client", responses=responses(409))
async def create_client(body: ClientCreate, conn: Conn) -> ClientOut:
    code = body.operator_code or rules.operator_code_of(body.phone)
    client = await clients.create(conn, body.phone, code, body.tag, body.timezone)
    logger.info("client created", extra={"client_id": client.id})
    return ClientOut.model_validate(client)


@router.get("", summary="List clients, filtered, by cursor", responses=responses())
async def list_clients(
    conn: Conn,
    operator_code: Annotated[str | None, Query(pattern=r"^\d{3}$")] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    phone: Annotated[
        str | None, Query(pattern=r"^7\d{0,10}$", description="A phone or its prefix")
    ] = None,
    cursor: Annotated[int, Query(ge=0, le=MAX_ID, description="next_cursor of the last page")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ClientPage:
    if tag is not None and "\x00" in tag:
        raise FieldError("tag", "must not contain a NUL character")
    items = await clients.list_page(
        conn, after=cursor, limit=limit, operator_code=operator_code, tag=tag, phone_prefix=phone
    )
    next_cursor = items[-1].id if len(items) == limit else None
    return ClientPage(items=[ClientOut.model_validate(c) for c in items], next_cursor=next_cursor)


@router.get("/{client_id}", summary="Read a client", responses=responses(404))
async def get_client(client_id: ClientId, conn: Conn) -> ClientOut:
    return _found(await clients.get(conn, client_id))


@router.patch("/{client_id}", summary="Change a client's fields", responses=responses(404, 409))
async def update_client(client_id: ClientId, body: ClientUpdate, conn: Conn) -> ClientOut:
    found, cancelled = await retrying_deadlocks(lambda: _update(conn, client_id, body))
    logger.info("client updated", extra={"client_id": client_id, "cancelled": cancelled})
    return found


async def _update(conn: Connection, client_id: int, body: ClientUpdate) -> tuple[ClientOut, int]:
    async with conn.transaction():
        found = _found(await clients.update(conn, client_id, **body.model_dump(exclude_none=True)))
        return found, await messages.cancel_unmatched_for_client(conn, client_id)


@router.delete("/{client_id}", status_code=204, summary="Delete a client", responses=responses(404))
async def delete_client(client_id: ClientId, conn: Conn) -> Response:
    cancelled = await retrying_deadlocks(lambda: _delete(conn, client_id))
    logger.info("client deleted", extra={"client_id": client_id, "cancelled": cancelled})
    return Response(status_code=204)


async def _delete(conn: Connection, client_id: int) -> int:
    async with conn.transaction():
        if not await clients.delete(conn, client_id):
            raise HTTPException(404, "no such client")
        return await messages.cancel_for_client(conn, client_id)


@router.post(
    "/import",
    summary="Import clients from CSV",
    description=(
        "The body is CSV text with the header `phone,operator_code,tag,timezone`. "
        "A phone that exists is updated, a new one created. Bad lines are reported by line "
        "and field; the good lines are imported."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": CSV_EXAMPLE,
                }
            },
        }
    },
    responses=responses(409, 413),
)
async def import_clients(request: Request, conn: Conn) -> ImportReport:
    chunks = csv_import.parse_chunks(await _read_csv(request), IMPORT_CHUNK_ROWS)
    errors: list[csv_import.LineError] = []
    async with conn.transaction():
        await clients.import_begin(conn)
        # Parsing is CPU work: in a thread, a chunk at a time, so the API keeps answering.
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            errors += chunk.errors
            if chunk.rows:
                await clients.import_copy(conn, chunk.rows)
        counts = await clients.import_merge(conn)
    logger.info(
        "clients imported",
        extra={
            "clients_created": counts.created,
            "clients_updated": counts.updated,
            "bad_lines": len(errors),
        },
    )
    return ImportReport(
        created=counts.created,
        updated=counts.updated,
        errors=[ImportLineError(line=e.line, field=e.field, message=e.message) for e in errors],
    )


async def _read_csv(request: Request) -> str:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > IMPORT_MAX_BYTES:
            raise HTTPException(413, f"the file is larger than {IMPORT_MAX_BYTES} bytes")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FieldError("body", "must be UTF-8 text") from exc
