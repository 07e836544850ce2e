"""The worker's parts that need no I/O: the breaker, the group writer, the prefetch rule."""

from __future__ import annotations

import asyncio

import pytest

from herald.dispatch.breaker import Breaker, State
from herald.dispatch.service import prefetch_for
from herald.dispatch.writer import GroupWriter
from herald.scheduler.window import Window
from herald.storage.messages import Outcome


async def test_breaker_opens_after_threshold_and_admits_one_probe() -> None:
    breaker = Breaker(threshold=3, cooldown=0.05)
    for _ in range(2):
        breaker.failure("500")
    assert breaker.state is State.CLOSED
    breaker.failure("500")
    assert breaker.state is State.OPEN
    assert not breaker.allow()
    await asyncio.wait_for(breaker.admit(), 1)
    assert breaker.state is State.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow(), "only one probe per cool-down"
    breaker.success()
    assert breaker.state is State.CLOSED
    assert breaker.allow()


async def test_a_failed_probe_doubles_the_cooldown() -> None:
    breaker = Breaker(threshold=1, cooldown=0.05, max_cooldown=0.15)
    breaker.trip("401")
    loop = asyncio.get_running_loop()
    waits = []
    for _ in range(3):
        began = loop.time()
        await breaker.admit()
        waits.append(loop.time() - began)
        breaker.failure("still down")
    assert waits[0] < waits[1] < waits[2] + 0.02
    assert waits[2] < 0.3


async def test_admit_returns_at_once_when_closed() -> None:
    await asyncio.wait_for(Breaker(1, 10).admit(), 0.1)


async def test_group_writer_puts_waiting_outcomes_in_one_write() -> None:
    writes: list[list[int]] = []

    async def write_many(outcomes: object) -> dict[int, str]:
        ids = [o.id for o in outcomes]  # type: ignore[attr-defined]
        writes.append(ids)
        await asyncio.sleep(0.01)
        return {i: "sent" for i in ids if i != 3}

    writer = GroupWriter(write_many)
    first = asyncio.create_task(writer.write(Outcome(1, 1, "sent")))
    await asyncio.sleep(0.001)  # the write of [1] is under way; the rest wait for the next one
    rest = [writer.write(Outcome(i, 1, "sent")) for i in range(2, 6)]
    results = await asyncio.gather(first, *rest)
    assert results == ["sent", "sent", None, "sent", "sent"]
    assert writes == [[1], [2, 3, 4, 5]]


async def test_group_writer_hands_a_failure_to_every_waiter_of_that_write() -> None:
    async def broken(outcomes: object) -> dict[int, str]:
        raise ConnectionError("database away")

    writer = GroupWriter(broken)
    with pytest.raises(ConnectionError):
        await writer.write(Outcome(1, 1, "sent"))


@pytest.mark.parametrize(("concurrency", "batch", "expected"), [(100, 200, 2), (1000, 100, 20)])
def test_prefetch_keeps_every_slot_busy(concurrency: int, batch: int, expected: int) -> None:
    assert prefetch_for(concurrency, batch) == expected


def test_window_follows_the_drain_rate_between_floor_and_ceiling() -> None:
    window = Window(floor=1000, ceiling=20_000, lease=60)
    assert window.size() == 1000
    window.observe(queued=0, now=0.0)
    window.enqueued(5000)
    window.observe(queued=0, now=1.0)  # 5,000 drained in a second
    assert window.size() == 20_000  # 5,000/s x 60 s x 1/4 = 75,000, capped
    for t in range(2, 30):
        window.enqueued(10)
        window.observe(queued=0, now=float(t))  # a provider that now takes 10/s
    assert window.size() == 1000
    window.observe(queued=0, now=30.5)  # less than a second: no new sample
    assert window.rate is not None
    assert window.rate < 20


async def test_an_unused_probe_stays_granted() -> None:
    breaker = Breaker(threshold=1, cooldown=0.05)
    breaker.trip("500")
    await asyncio.wait_for(breaker.admit(), 1)
    # The batch that got the probe had nothing to claim: the next batch needs no new cool-down.
    await asyncio.wait_for(breaker.admit(), 0.01)
    assert breaker.allow()
