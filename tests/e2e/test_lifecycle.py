"""Changing a mailing while it sends: pause, resume, cancel, delete, edits; deleting clients."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx2

from herald.providers.fake import FakeProvider
from tests.e2e.checks import (
    counts,
    create_mailing,
    eventually,
    import_clients,
    reaches_status,
    requests_by_id,
    settled,
)
from tests.e2e.conftest import CONCURRENCY


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(seconds=1), now + timedelta(minutes=5)


async def _sending(
    herald: httpx2.AsyncClient, fake: FakeProvider, clients: int, latency: float, started: int
) -> dict:
    """A mailing to ``clients`` clients, once the provider has seen ``started`` requests."""
    await fake.update_faults({"latency": latency})
    await import_clients(herald, [f"7900{i:07d}" for i in range(clients)], "900", "")
    mailing = await create_mailing(herald, *_window())
    await eventually(lambda: len(fake.log) >= started, 20, "sending started")
    return mailing


async def test_pause_stops_sending_and_resume_finishes(
    herald: httpx2.AsyncClient, fake: FakeProvider
) -> None:
    mailing = await _sending(herald, fake, clients=1500, latency=0.02, started=100)
    paused = await herald.post(f"/api/v1/mailings/{mailing['id']}/pause")
    assert paused.json()["status"] == "paused"
    await asyncio.sleep(0.5)  # calls already in flight finish
    during = len(fake.log)
    await asyncio.sleep(1.5)
    assert len(fake.log) == during, "sent while paused"
    assert during < 1500
    await herald.post(f"/api/v1/mailings/{mailing['id']}/resume")
    found = await settled(herald, mailing["id"], 1500, within=60)
    assert found["sent"] == 1500
    assert max(requests_by_id(fake.log).values()) == 1
    await reaches_status(herald, mailing["id"], "finished", within=5)


async def test_cancel_and_delete_stop_sending(
    herald: httpx2.AsyncClient, fake: FakeProvider
) -> None:
    mailing = await _sending(herald, fake, clients=1500, latency=0.02, started=100)
    await herald.post(f"/api/v1/mailings/{mailing['id']}/cancel")
    await asyncio.sleep(0.5)
    after_cancel = len(fake.log)
    found = await settled(herald, mailing["id"], 1500, within=20)
    assert found["cancelled"] > 0
    assert found["sent"] + found["cancelled"] == 1500
    await asyncio.sleep(1)
    assert len(fake.log) == after_cancel
    assert (await herald.delete(f"/api/v1/mailings/{mailing['id']}")).status_code == 204
    assert (await herald.get(f"/api/v1/mailings/{mailing['id']}")).status_code == 404


async def test_edits_apply_to_what_is_not_sent_yet(
    herald: httpx2.AsyncClient, fake: FakeProvider
) -> None:
    await fake.update_faults({"latency": 0.1})
    await import_clients(herald, [f"7900{i:07d}" for i in range(800)], "900", "a")
    new_phones = [f"7901{i:07d}" for i in range(300)]
    await import_clients(herald, new_phones, "901", "b")
    mailing = await create_mailing(
        herald, *_window(), filter={"operator_codes": ["900"]}, text="first"
    )
    await eventually(lambda: len(fake.log) >= 50, 20, "sending started")
    r = await herald.patch(
        f"/api/v1/mailings/{mailing['id']}",
        json={"text": "second", "filter": {"operator_codes": ["901"]}},
    )
    assert r.status_code == 200
    before_edit = len(fake.log)
    found = await settled(herald, mailing["id"], 1100, within=30)
    old = [e for e in fake.log if e["text"] == "first"]
    new = [e for e in fake.log if e["text"] == "second"]
    assert len(old) <= before_edit + CONCURRENCY, "only calls in flight keep the old text"
    assert sorted(str(e["phone"]) for e in new) == new_phones
    assert found["sent"] == len(old) + 300
    assert found["cancelled"] == 800 - len(old)


async def test_end_moved_earlier_takes_effect(
    herald: httpx2.AsyncClient, fake: FakeProvider
) -> None:
    mailing = await _sending(herald, fake, clients=2000, latency=0.05, started=50)
    new_end = datetime.now(UTC) + timedelta(seconds=1)
    r = await herald.patch(
        f"/api/v1/mailings/{mailing['id']}", json={"end_at": new_end.isoformat()}
    )
    assert r.status_code == 200
    found = await settled(herald, mailing["id"], 2000, within=20)
    assert max(e["arrived_at"] for e in fake.log) < new_end.timestamp()
    assert found["expired"] > 0


async def test_deleting_a_client_cancels_its_unsent_message(
    herald: httpx2.AsyncClient, fake: FakeProvider
) -> None:
    await import_clients(herald, ["79000000001", "79000000002"], "900", "")
    ids = [c["id"] for c in (await herald.get("/api/v1/clients")).json()["items"]]
    start = datetime.now(UTC) + timedelta(seconds=2)
    mailing = await create_mailing(herald, start, start + timedelta(minutes=5))
    assert (await herald.delete(f"/api/v1/clients/{ids[0]}")).status_code == 204
    found = await settled(herald, mailing["id"], 1, within=10)
    assert found["sent"] == 1
    assert [e["phone"] for e in fake.log] == [79000000002]
    assert (await counts(herald, mailing["id"]))["cancelled"] == 0  # fanned out after the delete
