"""Send slots that a batch takes several at a time, so that it claims only what it can send now.

A message claimed but left waiting for a slot would go out later with the text and end time
read at its claim; taking the slots first keeps an edit effective for every send not started.
"""

from __future__ import annotations

import asyncio


class Slots:
    def __init__(self, size: int) -> None:
        self.size = size
        self.free = size
        self._available = asyncio.Event()
        self._available.set()

    async def take(self, want: int) -> int:
        """Waits for at least one free slot; takes up to ``want`` of them and says how many."""
        while self.free == 0:
            self._available.clear()
            await self._available.wait()
        taken = min(want, self.free)
        self.free -= taken
        return taken

    def give(self, count: int = 1) -> None:
        self.free += count
        self._available.set()

    @property
    def busy(self) -> int:
        return self.size - self.free
