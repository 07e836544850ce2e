"""A provider double that speaks the seed's sending API and injects faults (design §6).

`POST /v1/send/{id}` answers per the current `Faults` and records every request it receives,
so tests can count duplicates, late sends and losses. Run-time control over HTTP:
`GET|PUT /_control` (faults), `GET|DELETE /_log` (records; `?after=N` for polling) and
`GET /_stats` (counts and in-flight high-water mark).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import math
import random
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from aiohttp import web

logger = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 1.0
NO_ANSWER = 0  # the status recorded for a request that is never answered (hang)
_OK_BODY = b'{"code": 0, "message": "OK"}'
_GARBAGE = ((b"<html>oops", "text/html"), (b'{"code": 1}', "application/json"))
_RATES = ("error_rate", "rate_limit_rate", "garbage_rate")
_SECONDS = ("latency", "latency_spread", "retry_after", "refuse_for")
_FLAGS = ("hang", "unauthorized")

Record = dict[str, Any]


@dataclass(slots=True)
class Faults:
    """What the fake does wrong; the three rates are disjoint shares of the requests."""

    latency: float = field(default=0.0, metadata={"help": "seconds before every answer"})
    latency_spread: float = field(default=0.0, metadata={"help": "extra uniform 0..spread s"})
    hang: bool = field(default=False, metadata={"help": "never answer"})
    error_rate: float = field(default=0.0, metadata={"help": "share answered error_status"})
    error_status: int = field(default=500, metadata={"help": "status for error_rate (300-599)"})
    garbage_rate: float = field(default=0.0, metadata={"help": "share answered 200 with junk"})
    rate_limit_rate: float = field(default=0.0, metadata={"help": "share answered 429"})
    retry_after: float = field(default=1.0, metadata={"help": "Retry-After seconds on a 429"})
    unauthorized: bool = field(default=False, metadata={"help": "answer 401 to everything"})
    refuse_for: float = field(default=0.0, metadata={"help": "refuse connections for seconds"})

    def __post_init__(self) -> None:
        for name in _FLAGS:
            if type(getattr(self, name)) is not bool:
                raise ValueError(f"{name} must be a boolean")
        for name in _SECONDS + _RATES:
            _check_non_negative(name, getattr(self, name))
            setattr(self, name, float(getattr(self, name)))  # JSON 1 and 1.0 read back alike
        for name in _RATES:
            if getattr(self, name) > 1:
                raise ValueError(f"{name} must be between 0 and 1")
        if sum(getattr(self, name) for name in _RATES) > 1 + 1e-9:  # 0.1 + 0.2 + 0.7 is valid
            raise ValueError("error_rate + rate_limit_rate + garbage_rate must not exceed 1")
        if type(self.error_status) is not int or not 300 <= self.error_status <= 599:
            raise ValueError("error_status must be an integer from 300 to 599")


_FAULT_NAMES = frozenset(f.name for f in fields(Faults))


def _check_non_negative(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0")


class Answer(enum.StrEnum):
    """What the fake decided to answer a send request (recorded as `answer`)."""

    OK = "ok"
    GARBAGE = "garbage"
    ERROR = "error"
    RATE_LIMITED = "rate_limited"
    UNAUTHORIZED = "unauthorized"
    BAD_REQUEST = "bad_request"
    HANG = "hang"


def parse_send_body(raw: bytes, message_id: int) -> tuple[int, str] | None:
    """(phone, text) from a well-formed send body whose id matches the path, else None."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    body_id, phone, text = data.get("id"), data.get("phone"), data.get("text")
    if type(body_id) is not int or body_id != message_id or type(phone) is not int:
        return None
    return (phone, text) if isinstance(text, str) else None


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def _json_error(status: int, reason: str) -> web.Response:
    body = json.dumps({"code": status, "message": reason}).encode()
    return web.Response(status=status, body=body, content_type="application/json")


class FakeProvider:
    """A running fake; build it with `start_fake_provider`."""

    def __init__(
        self, host: str, port: int, token: str | None, faults: Faults, rng: random.Random
    ) -> None:
        self.faults = faults
        self.log: list[Record] = []
        self._host, self._port = host, port
        self._auth = None if token is None else f"Bearer {token}"
        self._rng = rng
        self._runner = web.AppRunner(
            self._make_app(),
            access_log=None,  # per-request logging would cap the fake well below 1000s/s
            handler_cancellation=True,  # a client giving up ends a hung handler
            shutdown_timeout=SHUTDOWN_SECONDS,
        )
        self._site: web.TCPSite | None = None
        self._reopen: asyncio.Task[None] | None = None
        self._garbage_count = 0
        self._total = 0
        self._by_status: dict[int, int] = {}
        self._in_flight = 0
        self._max_in_flight = 0
        self._first_arrival: float | None = None
        self._last_arrival: float | None = None

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    def stats(self) -> dict[str, Any]:
        """Counts since start or the last `clear_log()`."""
        return {
            "total": self._total,
            "by_status": {str(status): n for status, n in sorted(self._by_status.items())},
            "max_in_flight": self._max_in_flight,
            "in_flight": self._in_flight,
            "first_arrival": self._first_arrival,
            "last_arrival": self._last_arrival,
        }

    def clear_log(self) -> None:
        """Forgets the records and counts (the high-water mark restarts at the current load)."""
        self.log.clear()
        self._total, self._by_status = 0, {}
        self._first_arrival = self._last_arrival = None
        self._max_in_flight = self._in_flight

    def apply_faults(self, changes: Mapping[str, object]) -> Faults:
        """Validates and applies changed fault fields, all or none.

        Raises:
            ValueError: an unknown field or a bad value, named in the message.
        """
        unknown = sorted(set(changes) - _FAULT_NAMES)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        changed: dict[str, Any] = dict(changes)
        self.faults = replace(self.faults, **changed)
        return self.faults

    async def update_faults(self, changes: Mapping[str, object]) -> Faults:
        """`apply_faults`, then starts refusing when `refuse_for` is among the changes."""
        faults = self.apply_faults(changes)
        if "refuse_for" in changes:
            await self.refuse(faults.refuse_for)
        return faults

    async def refuse(self, seconds: float) -> None:
        """Refuses connections for seconds from now; 0 listens again at once."""
        await self._cancel_reopen()
        if seconds <= 0:
            self.faults.refuse_for = 0.0
            await self._listen()
            return
        await self._unlisten()
        self._reopen = asyncio.create_task(self._reopen_after(seconds))

    async def stop(self) -> None:
        """Stops listening, drops every connection and releases the port."""
        await self._cancel_reopen()
        await self._unlisten()
        await self._runner.cleanup()

    async def _start(self) -> None:
        await self._runner.setup()
        await self._listen()
        if self.faults.refuse_for > 0:
            await self.refuse(self.faults.refuse_for)

    async def _listen(self) -> None:
        if self._site is not None:
            return
        # reuse_address: rebinding the same port right after closing it must not fail.
        site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
        await site.start()
        self._site, self._port = site, site.port

    async def _unlisten(self) -> None:
        if self._site is not None:
            site, self._site = self._site, None
            await site.stop()
        # Kept-alive connections would otherwise still be served: a real outage drops them too.
        server = self._runner.server
        for handler in server.connections if server is not None else []:
            handler.force_close()

    async def _reopen_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.faults.refuse_for = 0.0
        try:
            await self._listen()
        except OSError:
            logger.exception("fake provider could not listen again", extra={"port": self._port})

    async def _cancel_reopen(self) -> None:
        task, self._reopen = self._reopen, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(r"/v1/send/{id:\d+}", self._handle_send)
        app.router.add_get("/_control", self._get_control)
        app.router.add_put("/_control", self._put_control)
        app.router.add_get("/_log", self._get_log)
        app.router.add_delete("/_log", self._delete_log)
        app.router.add_get("/_stats", self._get_stats)
        return app

    async def _handle_send(self, request: web.Request) -> web.StreamResponse:
        arrived_at = time.time()
        self._in_flight += 1
        self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            record = await self._admit(request, arrived_at)
            try:
                answer, status = Answer(record["answer"]), record["status"]
                await self._wait(answer)
                # A request whose caller gave up before the answer (its deadline) is logged but
                # keeps answered=False: the provider never told anyone it took it.
                record["answered"] = True
                return self._respond(answer, status)
            finally:
                # When the call ended here, answered or abandoned: how long it was outstanding.
                record["ended_at"] = time.time()
        finally:
            self._in_flight -= 1

    async def _admit(self, request: web.Request, arrived_at: float) -> Record:
        message_id = int(request.match_info["id"])
        parsed = parse_send_body(await request.read(), message_id)
        answer, status = self._decide(request.headers.get("Authorization"), parsed is not None)
        phone, text = parsed if parsed is not None else (None, None)
        record: Record = {
            "id": message_id,
            "phone": phone,
            "text": text,
            "arrived_at": arrived_at,
            "status": status,
            "answer": answer.value,
            "answered": False,
            "ended_at": None,
        }
        self.log.append(record)
        if self._first_arrival is None:
            self._first_arrival = arrived_at
        self._last_arrival = arrived_at
        self._total += 1
        self._by_status[status] = self._by_status.get(status, 0) + 1
        return record

    def _decide(self, authorization: str | None, well_formed: bool) -> tuple[Answer, int]:
        faults = self.faults
        if faults.unauthorized or (self._auth is not None and authorization != self._auth):
            return Answer.UNAUTHORIZED, 401
        if not well_formed:
            return Answer.BAD_REQUEST, 400
        if faults.hang:
            return Answer.HANG, NO_ANSWER
        # One draw split into disjoint shares keeps each rate exact and the hot path cheap.
        roll = self._rng.random()
        if roll < faults.error_rate:
            return Answer.ERROR, faults.error_status
        if roll < faults.error_rate + faults.rate_limit_rate:
            return Answer.RATE_LIMITED, 429
        if roll < faults.error_rate + faults.rate_limit_rate + faults.garbage_rate:
            return Answer.GARBAGE, 200
        return Answer.OK, 200

    async def _wait(self, answer: Answer) -> None:
        if answer is Answer.HANG:
            # Never resolved: the handler ends when the client disconnects and cancels it.
            await asyncio.get_running_loop().create_future()
        faults = self.faults
        delay = faults.latency
        if faults.latency_spread > 0:
            delay += self._rng.uniform(0, faults.latency_spread)
        if delay > 0:
            await asyncio.sleep(delay)

    def _respond(self, answer: Answer, status: int) -> web.Response:
        if answer is Answer.OK:
            return web.Response(body=_OK_BODY, content_type="application/json")
        if answer is Answer.GARBAGE:
            body, content_type = _GARBAGE[self._garbage_count % len(_GARBAGE)]
            self._garbage_count += 1
            return web.Response(body=body, content_type=content_type)
        response = _json_error(status, answer.value)
        if answer is Answer.RATE_LIMITED:
            response.headers["Retry-After"] = _format_seconds(self.faults.retry_after)
        return response

    async def _get_control(self, request: web.Request) -> web.Response:
        return web.json_response(asdict(self.faults))

    async def _put_control(self, request: web.Request) -> web.StreamResponse:
        try:
            changes = json.loads(await request.read())
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object of fault fields")
            faults = self.apply_faults(changes)
        except (ValueError, RecursionError) as exc:
            return _json_error(400, str(exc))
        response = web.json_response(asdict(faults))
        if "refuse_for" in changes:
            # The answer must leave before the listening socket and every connection close.
            await response.prepare(request)
            await response.write_eof()
            await self.refuse(faults.refuse_for)
        return response

    async def _get_log(self, request: web.Request) -> web.Response:
        after = request.query.get("after", "0")
        if not after.isdigit():
            return _json_error(400, "after must be a non-negative integer")
        return web.json_response({"requests": self.log[int(after) :], "next": len(self.log)})

    async def _delete_log(self, request: web.Request) -> web.Response:
        self.clear_log()
        return web.Response(status=204)

    async def _get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())


async def start_fake_provider(
    host: str,
    port: int,
    token: str | None,
    faults: Faults | None = None,
    *,
    rng: random.Random | None = None,
) -> FakeProvider:
    """Starts a fake provider listening on host:port (0 picks a free port, see `.url`).

    Args:
        host: the address to bind.
        port: the port, or 0 for any free one.
        token: the bearer token to require, or None to accept any request.
        faults: the faults to start with (`refuse_for` applies from start).
        rng: the random source for rates and spread; pass a seeded one to replay a run.
    """
    rng = rng or random.Random()  # noqa: S311 - fault injection, not cryptography
    fake = FakeProvider(host, port, token, faults or Faults(), rng)
    await fake._start()
    return fake
