"""A circuit breaker that pauses sending while the provider is down or refuses our token.

Closed: everything flows. Open: nothing is claimed or sent until the cool-down passes.
Half-open: one call goes out as a probe; its success closes the breaker, its failure opens it
again for twice as long (up to a cap).
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
        self._probe_free = False
        self._closed = asyncio.Event()
        self._closed.set()

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
        if self.state is State.CLOSED:
            logger.warning("provider breaker open", extra={"reason": reason})
        self.state, self.reason, self._opened_at = State.OPEN, reason, time.monotonic()
        self._probe_free = False
        self._closed.clear()

    def allow(self) -> bool:
        """May a call go out now? While not closed, only the one probe may."""
        if self.state is State.CLOSED:
            return True
        if self.state is State.HALF_OPEN and self._probe_free:
            self._probe_free = False
            return True
        return False

    async def admit(self) -> None:
        """Waits until the breaker is closed, or until the cool-down grants a probe.

        A probe granted but not used yet (its batch had nothing left to claim) stays granted:
        batches gone stale while the breaker was open must not cost a cool-down each.
        """
        while not self._closed.is_set():
            if self.state is State.HALF_OPEN and self._probe_free:
                return
            wait = self._opened_at + self._cooldown - time.monotonic()
            if wait <= 0:
                # One probe per cool-down, even if an earlier probe never reported back.
                self.state, self._opened_at, self._probe_free = (
                    State.HALF_OPEN,
                    time.monotonic(),
                    True,
                )
                return
            try:
                await asyncio.wait_for(self._closed.wait(), wait)
            except TimeoutError:
                continue
