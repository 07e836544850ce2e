"""A mailing reaches every matching client exactly once, on time, whatever the provider does."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx2
import pytest

from herald.providers.fake import FakeProvider
from tests.e2e.checks import (
    accepted_ids,
    create_mailing,
    import_clients,
    requests_by_id,
    settled,
)
from tests.e2e.conftest import CONCURRENCY


def _now() -> datetime:
    return datetime.now(UTC)


async def _message_phones(pool: asyncpg.Pool, mailing_id: int) -> dict[int, str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT m.id, c.phone FROM messages m JOIN clients c ON c.id = m.client_id "
            "WHERE m.mailing_id = $1",
            mailing_id,
        )
    return {r["id"]: r["phone"] for r in rows}


async def test_every_matching_client_gets_exactly_one_message(
    herald: httpx2.AsyncClient, fake: FakeProvider, pool: asyncpg.Pool
) -> None:
    matching = [f"7900{i:07d}" for i in range(1500)]
    await import_clients(herald, matching, "900", "news")
    await import_clients(herald, [f"7901{i:07d}" for i in range(300)], "901", "news")
    await import_clients(herald, [f"7900{i:07d}" for i in range(5000, 5200)], "900", "other")
    mailing = await create_mailing(
        herald,
        _now() - timedelta(seconds=1),
        _now() + timedelta(minutes=5),
        filter={"operator_codes": ["900"], "tags": ["news"]},
        text="Sale on Sunday",
    )
    found = await settled(herald, mailing["id"], 1500, within=60)
    assert found["sent"] == 1500
    pipeline = (await herald.get("/api/v1/pipeline")).json()
    assert pipeline["provider"] == "healthy"
    assert len(pipeline["workers"]) == 1
    by_id = requests_by_id(fake.log)
    assert max(by_id.values()) == 1
    phones = await _message_phones(pool, mailing["id"])
    assert set(by_id) == set(phones)
    assert {str(e["phone"]) for e in fake.log} == set(matching)
    assert {e["text"] for e in fake.log} == {"Sale on Sunday"}
    assert all(str(e["phone"]) == phones[e["id"]] for e in fake.log)


async def test_future_mailing_starts_on_time_by_itself(
    herald: httpx2.AsyncClient, fake: FakeProvider
) -> None:
    await import_clients(herald, [f"7900{i:07d}" for i in range(50)], "900", "")
    start = _now() + timedelta(seconds=3)
    mailing = await create_mailing(herald, start, start + timedelta(minutes=5))
    await asyncio.sleep(2)
    assert fake.log == []
    await settled(herald, mailing["id"], 50, within=10)
    first = min(e["arrived_at"] for e in fake.log)
    assert start.timestamp() <= first <= start.timestamp() + 2, first - start.timestamp()


async def test_slow_provider_nothing_arrives_after_end(
    herald: httpx2.AsyncClient, fake: FakeProvider, pool: asyncpg.Pool
) -> None:
    await fake.update_faults({"latency": 0.4})
    await import_clients(herald, [f"7900{i:07d}" for i in range(600)], "900", "")
    end = _now() + timedelta(seconds=3)
    mailing = await create_mailing(herald, _now() - timedelta(seconds=1), end)
    found = await settled(herald, mailing["id"], 600, within=20)
    assert fake.log, "the provider got nothing at all"
    assert max(e["arrived_at"] for e in fake.log) < end.timestamp()
    assert found["expired"] > 0
    assert found["sent"] + found["expired"] == 600
    # Calls cut off by the deadline are ambiguous: the fake may have finished one a moment
    # before our timeout fired. Herald records them expired; at most the calls in flight.
    accepted = accepted_ids(fake.log)
    assert sent_ids(await _statuses(pool, mailing["id"])) <= set(accepted)
    assert 0 <= len(accepted) - found["sent"] <= CONCURRENCY


async def test_errors_garbage_and_refusals_then_healthy(
    herald: httpx2.AsyncClient, fake: FakeProvider, pool: asyncpg.Pool
) -> None:
    await fake.update_faults({"error_rate": 0.5, "garbage_rate": 0.5})
    await import_clients(herald, [f"7900{i:07d}" for i in range(300)], "900", "")
    mailing = await create_mailing(
        herald, _now() - timedelta(seconds=1), _now() + timedelta(minutes=5)
    )
    await asyncio.sleep(2)
    assert (await _sent_count(pool, mailing["id"])) == 0, "a garbage 200 was taken as sent"
    await fake.update_faults({"error_rate": 0.0, "garbage_rate": 0.0})
    await fake.refuse(1.0)
    found = await settled(herald, mailing["id"], 300, within=30)
    assert found["sent"] == 300
    assert found["failed"] == 0
    assert sum(accepted_ids(fake.log).values()) == 300


async def test_unauthorized_pauses_sending_without_failing_messages(
    herald: httpx2.AsyncClient, fake: FakeProvider, pool: asyncpg.Pool
) -> None:
    await fake.update_faults({"unauthorized": True})
    await import_clients(herald, [f"7900{i:07d}" for i in range(200)], "900", "")
    mailing = await create_mailing(
        herald, _now() - timedelta(seconds=1), _now() + timedelta(minutes=5)
    )
    await asyncio.sleep(2)
    refused = len(fake.log)
    assert refused > 0
    assert refused < 100, "the breaker should stop sending after the first 401s"
    async with pool.acquire() as conn:
        worst = await conn.fetchval(
            "SELECT max(attempts) FROM messages WHERE mailing_id = $1", mailing["id"]
        )
    assert worst <= 1, "a 401 used up a message's attempts"
    await asyncio.sleep(1.2)  # one heartbeat
    assert (await herald.get("/api/v1/pipeline")).json()["provider"] == "paused"
    await fake.update_faults({"unauthorized": False})
    found = await settled(herald, mailing["id"], 200, within=30)
    assert found["sent"] == 200
    assert found["failed"] == 0


async def _statuses(pool: asyncpg.Pool, mailing_id: int) -> dict[int, str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, status FROM messages WHERE mailing_id = $1", mailing_id)
    return {r["id"]: r["status"] for r in rows}


def sent_ids(statuses: dict[int, str]) -> set[int]:
    return {i for i, s in statuses.items() if s == "sent"}


async def _sent_count(pool: asyncpg.Pool, mailing_id: int) -> int:
    async with pool.acquire() as conn:
        n: int = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE mailing_id = $1 AND status = 'sent'", mailing_id
        )
    return n


@pytest.mark.settings(poll_interval=5.0)
async def test_unsent_messages_expire_at_end_not_a_poll_later(
    herald: httpx2.AsyncClient, fake: FakeProvider
) -> None:
    await fake.refuse(60)
    await import_clients(herald, [f"7900{i:07d}" for i in range(200)], "900", "")
    end = _now() + timedelta(seconds=2)
    mailing = await create_mailing(herald, _now() - timedelta(seconds=1), end)
    # Paused, its messages wait for nothing but the schedulers' expiring sweep.
    assert (await herald.post(f"/api/v1/mailings/{mailing['id']}/pause")).status_code == 200
    found = await settled(herald, mailing["id"], 200, within=10)
    settled_after = time.time() - end.timestamp()
    assert found["expired"] == 200
    # They sweep at the mailing's end_at, not at their next poll up to 5 s later.
    assert 0 <= settled_after < 1.0, settled_after
