"""Mailings, their lifecycle and statistics through the API, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx2
import pytest

from herald.domain.statuses import MessageStatus
from herald.scheduler import tick
from herald.storage import stats

NOW = datetime.now(UTC)


def _mailing(**overrides: object) -> dict:
    body: dict = {
        "text": "Hello",
        "filter": {"operator_codes": [], "tags": []},
        "start_at": (NOW + timedelta(hours=1)).isoformat(),
        "end_at": (NOW + timedelta(hours=2)).isoformat(),
    }
    return body | overrides


async def _create(api: httpx2.AsyncClient, **overrides: object) -> dict:
    r = await api.post("/api/v1/mailings", json=_mailing(**overrides))
    assert r.status_code == 201, r.text
    return r.json()


async def _clients(api: httpx2.AsyncClient, n: int, code: str = "900", tag: str = "") -> None:
    lines = "".join(f"7{code}{i:07d},{code},{tag},UTC\n" for i in range(n))
    r = await api.post(
        "/api/v1/clients/import", content="phone,operator_code,tag,timezone\n" + lines
    )
    assert r.json()["created"] == n


async def test_create_and_read(api: httpx2.AsyncClient) -> None:
    created = await _create(api, filter={"operator_codes": ["900", "900"], "tags": ["vip"]})
    assert created["status"] == "scheduled"
    assert created["filter"] == {"operator_codes": ["900"], "tags": ["vip"]}
    r = await api.get(f"/api/v1/mailings/{created['id']}")
    assert r.json() == created


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"start_at": "2026-12-04T10:00:00"}, "start_at", "offset is required"),
        ({"end_at": (NOW - timedelta(days=1)).isoformat()}, "end_at", "later than start_at"),
        ({"text": ""}, "text", ""),
        ({"text": "   "}, "text", "empty"),
        ({"text": "x" * 4097}, "text", ""),
        ({"text": "a\x00b"}, "text", "NUL"),
        ({"filter": {"operator_codes": ["9000"]}}, "filter.operator_codes.0", ""),
        ({"filter": {"colour": []}}, "filter.colour", "unknown field"),
        ({"priority": 1}, "priority", "unknown field"),
    ],
)
async def test_bad_mailing_is_422_naming_the_field(
    api: httpx2.AsyncClient, overrides: dict, field: str, reason: str
) -> None:
    r = await api.post("/api/v1/mailings", json=_mailing(**overrides))
    assert r.status_code == 422, r.text
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert field in errors, errors
    assert reason in errors[field]
    assert (await api.get("/api/v1/mailings")).json()["items"] == []


async def test_patch_checks_the_interval_against_stored_values(api: httpx2.AsyncClient) -> None:
    m = await _create(api)
    r = await api.patch(f"/api/v1/mailings/{m['id']}", json={"end_at": m["start_at"]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "end_at"
    r = await api.patch(f"/api/v1/mailings/{m['id']}", json={"text": "Changed"})
    assert r.json()["text"] == "Changed"


async def test_lifecycle_rules(api: httpx2.AsyncClient) -> None:
    m = await _create(api)
    path = f"/api/v1/mailings/{m['id']}"
    assert (await api.post(f"{path}/resume")).status_code == 409
    assert (await api.post(f"{path}/pause")).json()["status"] == "paused"
    assert (await api.post(f"{path}/resume")).json()["status"] == "scheduled"
    assert (await api.post(f"{path}/cancel")).json()["status"] == "cancelled"
    assert (await api.patch(path, json={"text": "late"})).status_code == 409
    assert (await api.delete(path)).status_code == 204
    assert (await api.get(path)).status_code == 404
    assert (await api.post(f"{path}/pause")).status_code == 404


async def test_list_by_status_and_cursor(api: httpx2.AsyncClient) -> None:
    ids = [(await _create(api))["id"] for _ in range(5)]
    await api.post(f"/api/v1/mailings/{ids[0]}/cancel")
    page = (await api.get("/api/v1/mailings", params={"limit": 2})).json()
    assert [m["id"] for m in page["items"]] == ids[:-3:-1]
    page = (
        await api.get("/api/v1/mailings", params={"limit": 2, "cursor": page["next_cursor"]})
    ).json()
    assert [m["id"] for m in page["items"]] == ids[2:0:-1]
    cancelled = (await api.get("/api/v1/mailings", params={"status": "cancelled"})).json()
    assert [m["id"] for m in cancelled["items"]] == [ids[0]]
    assert (await api.get("/api/v1/mailings", params={"status": "nope"})).status_code == 422


async def test_preview_counts_matching_clients(api: httpx2.AsyncClient) -> None:
    await _clients(api, 7, "900", "a")
    await _clients(api, 5, "901", "b")
    r = await api.post("/api/v1/mailings/preview", json={"operator_codes": ["900"]})
    assert r.json() == {"clients": 7}
    r = await api.get("/api/v1/mailings/preview", params={"tags": ["a", "b"]})
    assert r.json() == {"clients": 12}
    r = await api.get("/api/v1/mailings/preview", params={"operator_codes": "901", "tags": "a"})
    assert r.json() == {"clients": 0}


async def test_stats_include_every_status_and_mailings_without_messages(
    api: httpx2.AsyncClient,
) -> None:
    await _clients(api, 30)
    active = await _create(
        api,
        start_at=(NOW - timedelta(minutes=1)).isoformat(),
        end_at=(NOW + timedelta(hours=1)).isoformat(),
    )
    idle = await _create(api)
    app = api._transport.app  # type: ignore[attr-defined]
    res = app.state.resources
    await tick.start_due(res.pool)
    await tick.fan_out_all(res.pool, 7)
    general = (await api.get("/api/v1/stats")).json()
    by_id = {m["id"]: m for m in general["mailings"]}
    assert set(by_id[idle["id"]]["counts"]) == {s.value for s in MessageStatus}
    assert by_id[idle["id"]]["total"] == 0
    assert by_id[active["id"]]["counts"]["pending"] == 30
    assert general["totals"]["pending"] == 30
    detail = (await api.get(f"/api/v1/mailings/{active['id']}/stats", params={"limit": 20})).json()
    assert detail["total"] == 30
    assert len(detail["messages"]) == 20
    rest = (
        await api.get(
            f"/api/v1/mailings/{active['id']}/stats",
            params={"limit": 20, "cursor": detail["next_cursor"]},
        )
    ).json()
    assert len(rest["messages"]) == 10
    assert rest["next_cursor"] is None
    sent = (
        await api.get(f"/api/v1/mailings/{active['id']}/stats", params={"status": "sent"})
    ).json()
    assert sent["messages"] == []


async def test_cancel_cancels_unsent_messages(api: httpx2.AsyncClient, pool: asyncpg.Pool) -> None:
    await _clients(api, 10)
    m = await _create(api, start_at=(NOW - timedelta(minutes=1)).isoformat())
    res = api._transport.app.state.resources  # type: ignore[attr-defined]
    await tick.start_due(res.pool)
    await tick.fan_out_all(res.pool, 100)
    await api.post(f"/api/v1/mailings/{m['id']}/cancel")
    async with pool.acquire() as conn:
        counts = await stats.recount(conn, m["id"])
    assert counts["cancelled"] == 10
    assert counts["pending"] == 0


async def test_deleting_a_client_keeps_statistics(
    api: httpx2.AsyncClient, pool: asyncpg.Pool
) -> None:
    await _clients(api, 3)
    m = await _create(api, start_at=(NOW - timedelta(minutes=1)).isoformat())
    res = api._transport.app.state.resources  # type: ignore[attr-defined]
    await tick.start_due(res.pool)
    await tick.fan_out_all(res.pool, 100)
    client_id = (await api.get("/api/v1/clients")).json()["items"][0]["id"]
    assert (await api.delete(f"/api/v1/clients/{client_id}")).status_code == 204
    detail = (await api.get(f"/api/v1/mailings/{m['id']}/stats")).json()
    assert detail["total"] == 3
    assert detail["counts"]["cancelled"] == 1
    assert detail["counts"]["pending"] == 2


async def test_dispatch_starts_and_fans_out_due_mailings(api: httpx2.AsyncClient) -> None:
    await _clients(api, 12)
    due = await _create(api, start_at=(NOW - timedelta(minutes=1)).isoformat())
    await _create(api)  # in the future: untouched
    r = await api.post("/api/v1/dispatch")
    assert r.status_code == 200
    report = r.json()
    assert report["started"] == 1
    assert report["fanned_out"] == 12
    # No broker shared with workers in this process: the schedulers enqueue.
    assert report["enqueued"] == 0
    assert (await api.get(f"/api/v1/mailings/{due['id']}")).json()["status"] == "running"
    assert (await api.post("/api/v1/dispatch")).json()["fanned_out"] == 0


async def test_hostile_input_never_reaches_a_500(api: httpx2.AsyncClient) -> None:
    cases = [
        ("POST", "/api/v1/mailings", b'{"text": "\\ud800", "start_at": "2026-01-01T00:00:00Z"}'),
        ("POST", "/api/v1/mailings", b"[1, 2]"),
        ("POST", "/api/v1/mailings", b"{not json"),
        ("POST", "/api/v1/mailings", b'{"text": "x", "filter": "900"}'),
        ("POST", "/api/v1/mailings", b'{"text":"x","start_at":"10000-01-01T00:00:00Z"}'),
        ("POST", "/api/v1/clients", b'{"phone": 790012345678901234567890}'),
        ("POST", "/api/v1/clients", b'{"phone": "79001234567", "tag": "\\udfff"}'),
        ("POST", "/api/v1/mailings/preview", b'{"tags": ["\\u0000"]}'),
        ("GET", "/api/v1/clients?limit=abc&cursor=-1", b""),
        ("GET", "/api/v1/mailings/1/stats?status=lost", b""),
        ("PATCH", "/api/v1/clients/1", b'{"phone": null, "tag": 5}'),
    ]
    for method, path, body in cases:
        r = await api.request(
            method, path, content=body, headers={"Content-Type": "application/json"}
        )
        assert 400 <= r.status_code < 500, (path, body, r.status_code, r.text)
        assert r.json()["detail"], (path, body)


async def test_a_delete_caught_in_a_deadlock_runs_again(
    api: httpx2.AsyncClient, pool: asyncpg.Pool
) -> None:
    await _clients(api, 3)
    mailing = await _create(api, start_at=(NOW - timedelta(minutes=1)).isoformat())
    await tick.start_due(pool)
    await tick.fan_out_all(pool, 1000)
    message_id = await pool.fetchval(
        "SELECT min(id) FROM messages WHERE mailing_id = $1", mailing["id"]
    )
    # Another session (a worker claiming, say) holds a message the delete will cancel ...
    async with pool.acquire() as other, other.transaction():
        await other.execute("UPDATE messages SET updated_at = now() WHERE id = $1", message_id)
        delete = asyncio.create_task(api.delete(f"/api/v1/mailings/{mailing['id']}"))
        await _until_waiting_on_a_lock(pool)
        # ... and then wants the mailing row the delete holds: a cycle, which PostgreSQL breaks
        # after deadlock_timeout by aborting the delete, the first to wait.
        await other.execute("UPDATE mailings SET updated_at = now() WHERE id = $1", mailing["id"])
    response = await delete
    assert response.status_code == 204, response.text
    statuses = await pool.fetch(
        "SELECT status::text, count(*) FROM messages WHERE mailing_id = $1 GROUP BY 1",
        mailing["id"],
    )
    assert [tuple(r) for r in statuses] == [("cancelled", 3)]


async def _until_waiting_on_a_lock(pool: asyncpg.Pool) -> None:
    for _ in range(500):
        if await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ):
            return
        await asyncio.sleep(0.02)
    pytest.fail("the delete never waited for the other session's lock")
