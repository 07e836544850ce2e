"""One batch: claim it, send every message under the limits, write the outcomes back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from aiolimiter import AsyncLimiter

from herald import metrics
from herald.config import Settings
from herald.dispatch.breaker import Breaker, State
from herald.dispatch.deadlines import Deadlines
from herald.dispatch.slots import Slots
from herald.dispatch.writer import GroupWriter
from herald.domain.retry import RetryPolicy, retry_delay
from herald.providers.base import Outcome as Result
from herald.providers.base import Provider, SendRequest, SendResult
from herald.storage import messages
from herald.storage.db import TRANSIENT, Pool
from herald.storage.messages import Claimed, Outcome

logger = logging.getLogger(__name__)

DB_RETRY_PAUSE = 0.5
UNAUTHORIZED = "the provider refused our token"
# uvloop's timers count whole milliseconds: one may fire a little before time.monotonic() says.
CLOCK_SLACK = 0.002


class Worker:
    def __init__(self, pool: Pool, provider: Provider, settings: Settings) -> None:
        self.pool, self.provider, self.settings = pool, provider, settings
        self.breaker = Breaker(settings.breaker_threshold, settings.breaker_cooldown)
        self.slots = Slots(settings.concurrency)
        self.limiter: AsyncLimiter | None = (
            AsyncLimiter(settings.rate_limit, 1) if settings.rate_limit else None
        )
        self.policy = RetryPolicy(settings.max_attempts, settings.retry_base, settings.retry_cap)
        self.writer = GroupWriter(self._write_many)
        self.deadlines = Deadlines()
        self.in_flight = 0
        self.calls = 0
        self.stopping = False

    async def handle(self, ids: list[int]) -> None:
        """The queue's handler: returns once every outcome of the batch is written.

        The batch is claimed in parts, each as large as the send slots free at that moment,
        so every claimed message starts sending at once.
        """
        deliveries: list[asyncio.Task[None]] = []
        try:
            rest = ids
            while rest and not self.stopping:
                rest = await self._claim_part(rest, deliveries)
            if rest:  # stopping: what was not claimed goes back to pending for other workers
                await self._with_db(messages.unqueue, rest)
        finally:
            await asyncio.gather(*deliveries)

    def stop_claiming(self) -> None:
        """Batches in hand finish what they claimed and hand back the rest."""
        self.stopping = True

    async def _claim_part(self, ids: list[int], deliveries: list[asyncio.Task[None]]) -> list[int]:
        """Claims as many of ``ids`` as there are free slots, starts them; returns the rest."""
        await self.breaker.admit()
        taken = await self.slots.take(len(ids))
        if self.limiter is not None:
            # Permits before the claim, so a claimed message never waits for the rate limit.
            surplus = taken - max(1, min(taken, int(self.limiter.max_rate)))
            self.slots.give(surplus)
            taken -= surplus
            await self.limiter.acquire(taken)
        # In id order: the order in which expiry and the cancels lock rows (messages.sql), so
        # a claim and one of them never wait for each other in a cycle.
        part = sorted(ids[:taken])
        # Read before the claim: seconds_left comes from the database clock during the claim,
        # so every deadline computed from this is, if anything, a little early.
        started = time.monotonic()
        try:
            claimed = await self._with_db(messages.claim, part, self.settings.send_lease)
        except BaseException:
            self.slots.give(taken)
            raise
        sending = [c for c in claimed if c.status == "sending"]
        self.slots.give(taken - len(sending))
        logger.info(
            "claimed",
            extra={"message_ids": [c.id for c in sending], "settled": _settled(claimed)},
        )
        deliveries += [asyncio.create_task(self._deliver(c, started)) for c in sending]
        return ids[taken:]

    async def _deliver(self, msg: Claimed, claimed_at: float) -> None:
        """Sends one message and writes its outcome; its slot is given back only then."""
        try:
            outcome = await self._send(msg, claimed_at)
            if await self.writer.write(outcome) is None:
                metrics.WRITES_REFUSED.inc()
                logger.warning("write-back refused: lease lost", extra={"message_id": msg.id})
        finally:
            self.slots.give()

    async def _write_many(self, outcomes: Sequence[Outcome]) -> dict[int, str]:
        written: dict[int, str] = await self._with_db(messages.write_back, outcomes)
        return written

    async def _with_db(self, query: Any, *args: Any) -> Any:
        """Runs a query, retrying through a database restart for as long as the send lease."""
        deadline = time.monotonic() + self.settings.send_lease
        while True:
            try:
                async with self.pool.acquire() as conn:
                    return await query(conn, *args)
            except TRANSIENT:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(DB_RETRY_PAUSE)

    async def _send(self, msg: Claimed, claimed_at: float) -> Outcome:
        claimed_end = claimed_at + msg.seconds_left - self.settings.send_margin
        deadline = self.deadlines.end_of(msg.mailing_id, claimed_end)
        if not self.breaker.allow():
            return self._release(msg, "provider breaker open", self.settings.breaker_cooldown)
        budget = min(self.settings.provider_timeout, deadline - time.monotonic())
        if budget <= 0:
            return self._release(msg, "no time left before end_at", 0.0)
        return self._outcome(msg, await self._call(msg, budget, deadline))

    async def _call(self, msg: Claimed, budget: float, deadline: float) -> SendResult:
        self.in_flight += 1
        began = time.monotonic()
        try:
            async with self.deadlines.bounded(msg.mailing_id):
                result = await self.provider.send(SendRequest(msg.id, msg.phone, msg.text), budget)
        except TimeoutError:
            result = SendResult(Result.RETRY, "cut short: the mailing's end moved earlier")
        finally:
            self.in_flight -= 1
            self.calls += 1
        latency = time.monotonic() - began
        metrics.calls(result.outcome.value).inc()
        metrics.PROVIDER_LATENCY.observe(latency)
        # A call our own deadline cut (the mailing's end, not the provider's timeout) says
        # nothing about the provider: it must not pause the other mailings' sending.
        if not (result.outcome is Result.RETRY and time.monotonic() >= deadline - CLOCK_SLACK):
            self._track_breaker(result)
        logger.info(
            "provider call",
            extra={
                "message_id": msg.id,
                "mailing_id": msg.mailing_id,
                "client_id": msg.client_id,
                "attempt": msg.attempts,
                "outcome": result.outcome.value,
                "status": result.status,
                "error": result.error,
                "latency_ms": round(latency * 1000, 1),
            },
        )
        return result

    def _track_breaker(self, result: SendResult) -> None:
        if result.outcome in (Result.SENT, Result.FAILED, Result.RATE_LIMITED):
            self.breaker.success()
        elif result.outcome is Result.UNAUTHORIZED:
            self.breaker.trip(UNAUTHORIZED)
        else:
            self.breaker.failure(result.error or "provider fault")
        metrics.BREAKER_OPEN.set(int(self.breaker.state is not State.CLOSED))

    def _outcome(self, msg: Claimed, result: SendResult) -> Outcome:
        match result.outcome:
            case Result.SENT:
                return Outcome(msg.id, msg.attempts, "sent")
            case Result.FAILED:
                return Outcome(msg.id, msg.attempts, "failed", error=result.error)
            case Result.UNAUTHORIZED:
                return self._release(msg, result.error, self.settings.breaker_cooldown)
            case Result.RATE_LIMITED:
                delay = retry_delay(self.policy, 1, result.retry_after)
                return self._release(msg, result.error, delay)
        return self._retry(msg, result.error)

    def _retry(self, msg: Claimed, error: str | None) -> Outcome:
        if self.policy.exhausted(msg.attempts):
            return Outcome(msg.id, msg.attempts, "failed", error=f"gave up: {error}")
        delay = self.policy.delay(msg.attempts)
        logger.info(
            "retry scheduled",
            extra={
                "message_id": msg.id,
                "mailing_id": msg.mailing_id,
                "client_id": msg.client_id,
                "delay": delay,
            },
        )
        return Outcome(msg.id, msg.attempts, "pending", delay=delay, error=error)

    @staticmethod
    def _release(msg: Claimed, error: str | None, delay: float) -> Outcome:
        """Back to pending without using up an attempt: the fault was not the message's."""
        return Outcome(msg.id, msg.attempts, "pending", delay=delay, release=True, error=error)


def _settled(claimed: list[Claimed]) -> dict[int, str]:
    """Messages the claim settled instead of sending (paused, ended, cancelled)."""
    return {c.id: c.status for c in claimed if c.status != "sending"}
