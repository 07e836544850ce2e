"""Every error is JSON that names the field and the reason; nothing reaches a bare 500."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from herald.api.schemas import ErrorBody
from herald.storage.db import DEADLOCK, UNAVAILABLE, Conflict

logger = logging.getLogger(__name__)

_REWORDED = {
    "timezone_aware": "an offset is required, e.g. 2026-12-04T10:00:00+03:00",
    "extra_forbidden": "unknown field",
    "missing": "required",
}


def field_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Pydantic's errors as ``{field, message}``, the field without its ``body``/``query`` root."""
    found = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        if loc and loc[0] in {"body", "query", "path", "header"} and len(loc) > 1:
            loc = loc[1:]
        message = _REWORDED.get(err.get("type", ""), err.get("msg", "invalid"))
        found.append(
            {"field": ".".join(loc) or "body", "message": message.removeprefix("Value error, ")}
        )
    return found


def error(status: int, detail: str, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "errors": errors or []}, status_code=status)


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error(422, "invalid request", field_errors(exc.errors()))


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Conflict)
    return error(409, exc.message, [{"field": exc.field, "message": exc.message}])


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    response = error(exc.status_code, str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("database unavailable", extra={"path": request.url.path, "error": repr(exc)})
    return error(503, "the database is unavailable; try again shortly")


async def _deadlocked(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("deadlocked every attempt", extra={"path": request.url.path})
    return error(503, "the messages were busy being sent; try again")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", extra={"path": request.url.path})
    return error(500, "internal error")


class FieldError(HTTPException):
    """A 422 about one field, raised by a route after the schema accepted the body."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(422, message)
        self.field = field


async def _field_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FieldError)
    return error(422, "invalid request", [{"field": exc.field, "message": str(exc.detail)}])


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(FieldError, _field_error)
    app.add_exception_handler(HTTPException, _http)
    for exc_type in (*UNAVAILABLE, TimeoutError):
        app.add_exception_handler(exc_type, _unavailable)
    app.add_exception_handler(DEADLOCK, _deadlocked)
    app.add_exception_handler(Exception, _unexpected)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI error responses of a route: 401 and 422 always, plus the given codes."""
    return {
        code: {"model": ErrorBody, "description": _DESCRIBED[code]} for code in (401, 422, *codes)
    }


_DESCRIBED = {
    401: "Missing or wrong bearer token",
    404: "No such object",
    409: "A uniqueness or state rule refused it",
    413: "The body is too large",
    422: "A field is invalid: `errors` names it and says why",
    503: "The database is unavailable",
}
