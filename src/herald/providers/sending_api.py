"""The seed's sending API over aiohttp: one POST per message, classified as design §3 says.

`POST {base_url}/v1/send/{message_id}` with `Authorization: Bearer {token}` and JSON
`{"id": int, "phone": int, "text": str}`; only a 200 whose body is JSON with `"code": 0` counts
as sent. Every provider fault becomes a `SendResult`, never an exception.
"""

from __future__ import annotations

import json
import logging
import math
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Self

import aiohttp

from herald.providers.base import Outcome, SendRequest, SendResult

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
KEEPALIVE_SECONDS = 15.0
GARBAGE = "garbage response"
TIMEOUT = "timeout"
_MAX_ERROR_CHARS = 200
_DELAY_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_STATUS_OUTCOMES = {
    200: Outcome.SENT,
    400: Outcome.FAILED,
    404: Outcome.FAILED,
    422: Outcome.FAILED,
    401: Outcome.UNAUTHORIZED,
    403: Outcome.UNAUTHORIZED,
    429: Outcome.RATE_LIMITED,
}


def classify_status(status: int) -> Outcome:
    """The outcome an HTTP status implies; SENT for 200 still depends on the body."""
    return _STATUS_OUTCOMES.get(status, Outcome.RETRY)


def is_success_body(body: bytes) -> bool:
    """Whether a 200 body is a JSON object whose `code` is the integer 0."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: deeply nested arrays fit in 64 KiB
        return False
    if not isinstance(data, dict):
        return False
    code = data.get("code")
    # type() rather than isinstance(): false and 0.0 compare equal to 0 but are not the contract.
    return type(code) is int and code == 0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (RFC 9110: delay-seconds or an HTTP-date).

    Args:
        value: the header value, or None when absent.
        now: the current time for an HTTP-date (aware); defaults to the clock.

    Returns:
        Non-negative seconds (a past date gives 0.0), or None when absent or unparsable.
    """
    if value is None:
        return None
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        seconds = float(text)
        return seconds if math.isfinite(seconds) else None
    return _seconds_until(text, now or datetime.now(UTC))


def _seconds_until(http_date: str, now: datetime) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def interpret(status: int, retry_after: str | None, body: bytes | None) -> SendResult:
    """Classifies one HTTP answer.

    Args:
        status: the HTTP status.
        retry_after: the Retry-After header, if any.
        body: the body, or None when it was longer than MAX_BODY_BYTES.
    """
    outcome = classify_status(status)
    if outcome is Outcome.SENT:
        if body is not None and is_success_body(body):
            return SendResult(Outcome.SENT, status=status)
        return SendResult(Outcome.RETRY, GARBAGE, status=status)
    if outcome is Outcome.RATE_LIMITED:
        return SendResult(outcome, f"http {status}", parse_retry_after(retry_after), status)
    return SendResult(outcome, f"http {status}", status=status)


async def read_capped(stream: aiohttp.StreamReader, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The whole body, or None as soon as it grows past limit bytes."""
    body = b""
    while chunk := await stream.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            return None
    return body


def _payload(request: SendRequest) -> bytes:
    body = {"id": request.message_id, "phone": int(request.phone), "text": request.text}
    return json.dumps(body, ensure_ascii=False).encode()


_JSON = {"Content-Type": "application/json"}


class SendingApiProvider:
    """The `Provider` for the seed's sending API; one pooled aiohttp session per instance.

    The session is created on first use (or by `open()`), inside the running event loop.
    """

    def __init__(self, base_url: str, token: str, concurrency: int) -> None:
        if concurrency < 1:
            # aiohttp reads a limit of 0 as "unlimited", the opposite of what a caller meant.
            raise ValueError("concurrency must be at least 1")
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"SendingApiProvider({self._base_url!r}, concurrency={self._concurrency})"

    async def open(self) -> Self:
        """Creates the session now rather than on the first send; idempotent."""
        self._open_session()
        return self

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the session and its pooled connections; sending afterwards is an error."""
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # The name is the Provider protocol's; it bounds aiohttp's own total timeout.
    async def send(self, request: SendRequest, timeout: float) -> SendResult:  # noqa: ASYNC109
        """Sends one message; never raises for a provider fault, returns within timeout.

        Raises:
            RuntimeError: the provider was closed.
        """
        if not timeout > 0:
            # ClientTimeout(total=0) would mean "no limit": an exhausted budget sends nothing.
            return SendResult(Outcome.RETRY, TIMEOUT)
        try:
            payload = _payload(request)
        except ValueError:
            return SendResult(Outcome.FAILED, "phone is not a number")
        try:
            # ceil_threshold: aiohttp rounds a timeout over 5 s up to a whole second of the
            # loop's clock, and the caller's budget ends where the mailing does.
            limits = aiohttp.ClientTimeout(total=timeout, ceil_threshold=math.inf)
            return await self._post(request.message_id, payload, limits)
        except TimeoutError:  # before OSError: TimeoutError is one of its subclasses
            return SendResult(Outcome.RETRY, TIMEOUT)
        except (aiohttp.ClientError, OSError) as exc:
            return self._transport_failure(request.message_id, exc)

    async def _post(
        self, message_id: int, payload: bytes, limits: aiohttp.ClientTimeout
    ) -> SendResult:
        session = self._open_session()
        # Bytes with a fixed header, not json=: aiohttp's JSON payload costs a few % of a call.
        async with session.post(
            f"{self._base_url}/v1/send/{message_id}",
            data=payload,
            headers=_JSON,
            allow_redirects=False,
            timeout=limits,
        ) as response:
            # Read even error bodies (capped) so the connection can go back to the pool.
            body = await read_capped(response.content)
            return interpret(response.status, response.headers.get("Retry-After"), body)

    def _open_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("provider is closed")
        if self._session is None:
            self._session = self._new_session()
        return self._session

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._concurrency,
            limit_per_host=self._concurrency,
            keepalive_timeout=KEEPALIVE_SECONDS,
        )
        return aiohttp.ClientSession(
            connector=connector,
            headers={"Authorization": f"Bearer {self._token}"},
            raise_for_status=False,
        )

    def _transport_failure(self, message_id: int, exc: BaseException) -> SendResult:
        error = self._scrub(f"{type(exc).__name__}: {exc}")[:_MAX_ERROR_CHARS]
        logger.debug("provider unreachable", extra={"message_id": message_id, "error": error})
        return SendResult(Outcome.RETRY, error)

    def _scrub(self, text: str) -> str:
        # Exceptions may quote what was sent; the token must never reach last_error or logs.
        return text.replace(self._token, "***") if self._token else text
