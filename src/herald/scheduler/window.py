"""How many messages may wait in the broker: what the workers drain well within a lease.

A queued message not claimed within its lease is rescued and enqueued again, which is safe but
wasted work; with a slow or hanging provider a fixed ceiling would cycle the whole backlog
through rescue. The window follows the measured drain rate instead, between a floor that keeps
the workers fed at start and the configured ceiling.
"""

from __future__ import annotations

import time


class Window:
    SMOOTHING = 0.3  # weight of the newest rate sample
    LEASE_SHARE = 0.25  # the backlog drains within a quarter of the lease

    def __init__(self, floor: int, ceiling: int, lease: float) -> None:
        self.floor, self.ceiling, self.lease = floor, max(floor, ceiling), lease
        self.rate: float | None = None
        self._last: tuple[float, int] | None = None  # (when, queued + enqueued so far)
        self._enqueued = 0

    def size(self) -> int:
        if self.rate is None:
            return self.floor
        return int(min(self.ceiling, max(self.floor, self.rate * self.lease * self.LEASE_SHARE)))

    def observe(self, queued: int, now: float | None = None) -> None:
        """Records the queued count; the drain since the last call gives a rate sample."""
        now = time.monotonic() if now is None else now
        if self._last is not None and now - self._last[0] >= 1.0:
            drained = self._last[1] + self._enqueued - queued
            sample = max(drained, 0) / (now - self._last[0])
            self.rate = (
                sample
                if self.rate is None
                else (self.SMOOTHING * sample + (1 - self.SMOOTHING) * self.rate)
            )
            self._last, self._enqueued = (now, queued), 0
        elif self._last is None:
            self._last = (now, queued)

    def enqueued(self, n: int) -> None:
        self._enqueued += n
