"""What the worker needs of a sending provider, whatever speaks to it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class Outcome(enum.Enum):
    """How one provider call ended, as design §3 classifies it."""

    SENT = "sent"  # 200 with {"code": 0, "message": "OK"}
    RETRY = "retry"  # refused, timeout, 5xx, garbage 200: the provider may have it; same id again
    RATE_LIMITED = "rate_limited"  # 429: retry no sooner than retry_after
    FAILED = "failed"  # 400/404/422: the message itself is bad
    UNAUTHORIZED = "unauthorized"  # 401/403: our fault, not the message's; pause sending


@dataclass(frozen=True, slots=True)
class SendRequest:
    message_id: int
    phone: str
    text: str


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    error: str | None = None  # short reason for last_error and logs; never holds the token
    retry_after: float | None = None  # seconds, from Retry-After on a 429
    status: int | None = None  # HTTP status when one arrived


class Provider(Protocol):
    async def send(self, request: SendRequest, timeout: float) -> SendResult:  # noqa: ASYNC109
        """Sends one message; never raises for a provider fault, and returns within timeout."""
        ...

    async def close(self) -> None: ...
