"""When a message that the provider did not take is tried again."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    base: float
    cap: float

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds before the next try after ``attempts`` tries.

        Exponential backoff with "equal jitter": at least half the ceiling, so retries of a
        provider outage spread out but never all come back at once.
        """
        ceiling = min(self.cap, self.base * 2 ** max(attempts - 1, 0))
        return (rng or random).uniform(ceiling / 2, ceiling)

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


def retry_delay(
    policy: RetryPolicy, attempts: int, retry_after: float | None, rng: random.Random | None = None
) -> float:
    """The backoff, but never sooner than the provider's ``Retry-After``."""
    delay = policy.delay(attempts, rng)
    return max(delay, retry_after) if retry_after is not None else delay
