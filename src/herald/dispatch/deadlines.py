"""Each mailing's end as this worker knows it, tightened at once when an operator moves it.

A send's deadline comes from its claim and bounds the provider call's own timeout; an end moved
earlier after that arrives by NOTIFY and cuts short the calls already under way, so none is
outstanding past the new end. A call holds a timer only once its end has moved: one timer per
call (the HTTP client's) is a few per cent of a worker's CPU at thousands of calls a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import defaultdict
from collections.abc import AsyncIterator


def _loop_time(monotonic_deadline: float) -> float:
    """The event loop's clock may differ from time.monotonic (uvloop counts milliseconds)."""
    return asyncio.get_running_loop().time() + (monotonic_deadline - time.monotonic())


class Deadlines:
    def __init__(self) -> None:
        self._ends: dict[int, float] = {}
        self._calls: defaultdict[int, set[asyncio.Timeout]] = defaultdict(set)

    def end_of(self, mailing_id: int, claimed: float) -> float:
        """The earlier of the claim's deadline and the latest one announced (monotonic)."""
        return min(claimed, self._ends.get(mailing_id, math.inf))

    def mailings_in_flight(self) -> list[int]:
        return list(self._calls)

    def moved(self, mailing_id: int, seconds_left: float) -> None:
        """An operator changed the end: calls under way are cut at the new end if earlier."""
        end = time.monotonic() + seconds_left
        self._ends[mailing_id] = end
        for timeout in self._calls.get(mailing_id, ()):
            when = timeout.when()
            timeout.reschedule(min(when, _loop_time(end)) if when is not None else _loop_time(end))

    @contextlib.asynccontextmanager
    async def bounded(self, mailing_id: int) -> AsyncIterator[None]:
        """Runs a call that a newer end of its mailing, announced while it runs, cuts short.

        The call bounds itself by the deadline of its claim (the provider's timeout).

        Raises:
            TimeoutError: the newer end came first.
        """
        async with asyncio.timeout(None) as timeout:
            calls = self._calls[mailing_id]
            calls.add(timeout)
            try:
                yield
            finally:
                calls.discard(timeout)
                if not calls:
                    del self._calls[mailing_id]
