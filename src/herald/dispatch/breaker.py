"""A circuit breaker that pauses claiming while the provider is down or refuses our token.

Closed: everything flows. Open: nothing is claimed until the cool-down passes. Half-open: one
probe goes through; its success closes the breaker, its failure opens it again for longer.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time

logger = logging.getLogger(__name__)


class State(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker:
    def __init__(self, threshold: int, cooldown: float, max_cooldown: float = 60.0) -> None:
        self.threshold, self.base_cooldown, self.max_cooldown = threshold, cooldown, max_cooldown
        self.state = State.CLOSED
        self.reason: str | None = None
        self._failures = 0
        self._cooldown = cooldown
        self._opened_at = 0.0
        self._closed = asyncio.Event()
        self._closed.set()

    @property
    def is_open(self) -> bool:
        return self.state is not State.CLOSED

    def success(self) -> None:
        self._failures = 0
        if self.state is not State.CLOSED:
            logger.info("provider breaker closed")
        self.state, self.reason, self._cooldown = State.CLOSED, None, self.base_cooldown
        self._closed.set()

    def failure(self, reason: str) -> None:
        """A fault of the provider's (refused, timeout, 5xx): opens after ``threshold`` in a row."""
        self._failures += 1
        if self.state is State.HALF_OPEN or self._failures >= self.threshold:
            self.trip(reason)

    def trip(self, reason: str) -> None:
        """Opens at once (a 401, or too many failures); a failed probe doubles the cool-down."""
        if self.state is State.HALF_OPEN:
            self._cooldown = min(self._cooldown * 2, self.max_cooldown)
        if self.state is not State.OPEN:
            logger.warning(
                "provider breaker open", extra={"reason": reason, "cooldown": self._cooldown}
            )
        self.state, self.reason, self._opened_at = State.OPEN, reason, time.monotonic()
        self._closed.clear()

    async def admit(self) -> None:
        """Waits until a call may go out: closed, or this caller is the half-open probe."""
        while not self._closed.is_set():
            wait = self._opened_at + self._cooldown - time.monotonic()
            if wait <= 0:
                # One probe per cool-down, even if an earlier probe never reported back.
                self.state, self._opened_at = State.HALF_OPEN, time.monotonic()
                return
            try:
                await asyncio.wait_for(self._closed.wait(), max(wait, 0.05))
            except TimeoutError:
                continue
