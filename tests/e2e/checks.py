"""What the end-to-end tests check: settled mailings, the provider's log against the rows."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx2

UNSENT = ("pending", "queued", "sending")


async def eventually(condition: Callable[[], bool], within: float, what: str) -> None:
    """Polls ``condition`` until it holds; fails the test after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(0.05)


async def import_clients(api: httpx2.AsyncClient, phones: list[str], code: str, tag: str) -> None:
    lines = "".join(f"{p},{code},{tag},UTC\n" for p in phones)
    r = await api.post(
        "/api/v1/clients/import", content="phone,operator_code,tag,timezone\n" + lines
    )
    assert r.status_code == 200, r.text
    assert r.json()["errors"] == []


async def create_mailing(
    api: httpx2.AsyncClient, start_at: datetime, end_at: datetime, **fields: Any
) -> dict[str, Any]:
    body = {"text": "Hello", "start_at": start_at.isoformat(), "end_at": end_at.isoformat()}
    r = await api.post("/api/v1/mailings", json=body | fields)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def counts(api: httpx2.AsyncClient, mailing_id: int) -> dict[str, int]:
    r = await api.get(f"/api/v1/mailings/{mailing_id}/stats", params={"limit": 1})
    assert r.status_code == 200, r.text
    found: dict[str, int] = r.json()["counts"]
    return found


async def settled(api: httpx2.AsyncClient, mailing_id: int, expected: int, within: float) -> dict:
    """Waits until ``expected`` messages exist and none is unsent; returns the counts."""
    deadline = time.monotonic() + within
    while True:
        found = await counts(api, mailing_id)
        if sum(found.values()) >= expected and not any(found[s] for s in UNSENT):
            return found
        assert time.monotonic() < deadline, f"not settled in {within} s: {found}"
        await asyncio.sleep(0.1)


def requests_by_id(log: list[dict[str, Any]]) -> collections.Counter[int]:
    return collections.Counter(entry["id"] for entry in log)


def accepted_ids(log: list[dict[str, Any]]) -> collections.Counter[int]:
    """Ids the provider took: a real success that reached the caller."""
    return collections.Counter(e["id"] for e in log if e["answer"] == "ok" and e["answered"])


async def reaches_status(
    api: httpx2.AsyncClient, mailing_id: int, want: str, within: float
) -> None:
    deadline = time.monotonic() + within
    while (await api.get(f"/api/v1/mailings/{mailing_id}")).json()["status"] != want:
        assert time.monotonic() < deadline, f"mailing {mailing_id} not {want} within {within} s"
        await asyncio.sleep(0.1)
