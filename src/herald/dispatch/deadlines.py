"""Each mailing's end as this worker knows it, tightened at once when an operator moves it.

A send's deadline comes from its claim; an end moved earlier after that arrives by NOTIFY and
cuts short the calls already under way, so none is outstanding past the new end.
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

    def moved(self, mailing_id: int, seconds_left: float) -> None:
        """An operator changed the end: calls under way are cut at the new end if earlier."""
        end = time.monotonic() + seconds_left
        self._ends[mailing_id] = end
        for timeout in self._calls.get(mailing_id, ()):
            when = timeout.when()
            timeout.reschedule(min(when, _loop_time(end)) if when is not None else _loop_time(end))

    @contextlib.asynccontextmanager
    async def bounded(self, mailing_id: int, deadline: float) -> AsyncIterator[None]:
        """Runs a call that ends by ``deadline`` or by a newer, earlier end of its mailing.

        Raises:
            TimeoutError: the end came first.
        """
        async with asyncio.timeout(deadline - time.monotonic()) as timeout:
            calls = self._calls[mailing_id]
            calls.add(timeout)
            try:
                yield
            finally:
                calls.discard(timeout)
                if not calls:
                    del self._calls[mailing_id]
