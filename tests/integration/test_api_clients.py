"""The client directory through the API, against a real PostgreSQL."""

from __future__ import annotations

import httpx2
import pytest

pytestmark = pytest.mark.asyncio


async def _create(api: httpx2.AsyncClient, phone: object = "79001234567", **fields: object) -> dict:
    r = await api.post("/api/v1/clients", json={"phone": phone, **fields})
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_defaults_operator_code_from_phone(api: httpx2.AsyncClient) -> None:
    client = await _create(api, 79161234567, tag="vip", timezone="Europe/Moscow")
    assert client["phone"] == "79161234567"
    assert client["operator_code"] == "916"
    assert client["tag"] == "vip"
    assert client["timezone"] == "Europe/Moscow"
    r = await api.get(f"/api/v1/clients/{client['id']}")
    assert r.json() == client


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "89001234567"}, "phone"),
        ({"phone": "7900123456"}, "phone"),
        ({"phone": "7900123456a"}, "phone"),
        ({"phone": True}, "phone"),
        ({"phone": "79001234567", "operator_code": "12"}, "operator_code"),
        ({"phone": "79001234567", "timezone": "Mars/Olympus"}, "timezone"),
        ({"phone": "79001234567", "tag": "x" * 65}, "tag"),
        ({"phone": "79001234567", "tag": "a\x00b"}, "tag"),
        ({"phone": "79001234567", "colour": "red"}, "colour"),
        ({}, "phone"),
    ],
)
async def test_bad_client_is_422_naming_the_field(
    api: httpx2.AsyncClient, body: dict, field: str
) -> None:
    r = await api.post("/api/v1/clients", json=body)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]
    listed = await api.get("/api/v1/clients")
    assert listed.json()["items"] == []


async def test_duplicate_phone_is_409(api: httpx2.AsyncClient) -> None:
    await _create(api)
    r = await api.post("/api/v1/clients", json={"phone": "79001234567"})
    assert r.status_code == 409
    assert r.json()["errors"][0]["field"] == "phone"


async def test_patch_changes_only_given_fields(api: httpx2.AsyncClient) -> None:
    client = await _create(api, tag="old")
    r = await api.patch(f"/api/v1/clients/{client['id']}", json={"tag": "new"})
    assert r.status_code == 200
    assert r.json()["tag"] == "new"
    assert r.json()["phone"] == client["phone"]
    r = await api.patch(f"/api/v1/clients/{client['id']}", json={"operator_code": "abc"})
    assert r.status_code == 422


async def test_patch_to_a_taken_phone_is_409(api: httpx2.AsyncClient) -> None:
    await _create(api, "79001111111")
    other = await _create(api, "79002222222")
    r = await api.patch(f"/api/v1/clients/{other['id']}", json={"phone": "79001111111"})
    assert r.status_code == 409


async def test_delete_frees_the_phone_and_hides_the_client(api: httpx2.AsyncClient) -> None:
    client = await _create(api)
    assert (await api.delete(f"/api/v1/clients/{client['id']}")).status_code == 204
    assert (await api.get(f"/api/v1/clients/{client['id']}")).status_code == 404
    assert (await api.delete(f"/api/v1/clients/{client['id']}")).status_code == 404
    again = await _create(api)
    assert again["id"] != client["id"]


@pytest.mark.parametrize(
    "path", ["/api/v1/clients/0", f"/api/v1/clients/{2**63}", "/api/v1/clients/x"]
)
async def test_bad_ids_are_422(api: httpx2.AsyncClient, path: str) -> None:
    r = await api.get(path)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "client_id"


async def test_list_filters_and_pages_by_cursor(api: httpx2.AsyncClient) -> None:
    for i in range(25):
        await _create(api, f"7{900 + i % 2}{i:07d}", tag="even" if i % 2 == 0 else "odd")
    r = await api.get("/api/v1/clients", params={"operator_code": "900", "limit": 5})
    page = r.json()
    assert len(page["items"]) == 5
    assert all(c["operator_code"] == "900" for c in page["items"])
    seen = [c["id"] for c in page["items"]]
    while page["next_cursor"] is not None:
        r = await api.get(
            "/api/v1/clients",
            params={"operator_code": "900", "limit": 5, "cursor": page["next_cursor"]},
        )
        page = r.json()
        seen += [c["id"] for c in page["items"]]
    assert len(seen) == 13 == len(set(seen))
    assert seen == sorted(seen)
    r = await api.get("/api/v1/clients", params={"tag": "odd"})
    assert len(r.json()["items"]) == 12
    r = await api.get("/api/v1/clients", params={"phone": "79010000001"})
    assert [c["phone"] for c in r.json()["items"]] == ["79010000001"]
    r = await api.get("/api/v1/clients", params={"limit": 1001})
    assert r.status_code == 422


async def test_csv_import_reports_bad_lines_and_imports_good_ones(api: httpx2.AsyncClient) -> None:
    await _create(api, "79000000001", tag="before")
    csv_text = (
        "phone,operator_code,tag,timezone\n"
        "79000000001,,after,Europe/Moscow\n"
        "79000000002,900,vip,\n"
        "123,900,x,UTC\n"
        "79000000003,9a0,x,UTC\n"
        "79000000004,900,x,Nowhere/City\n"
        "79000000005,900\n"
        "79000000006,,,Asia/Kolkata\n"
    )
    r = await api.post(
        "/api/v1/clients/import", content=csv_text, headers={"Content-Type": "text/csv"}
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["created"] == 2
    assert report["updated"] == 1
    assert [(e["line"], e["field"]) for e in report["errors"]] == [
        (4, "phone"),
        (5, "operator_code"),
        (6, "timezone"),
        (7, "line"),
    ]
    r = await api.get("/api/v1/clients", params={"phone": "79000000001"})
    assert r.json()["items"][0]["tag"] == "after"
    assert r.json()["items"][0]["timezone"] == "Europe/Moscow"
    r = await api.get("/api/v1/clients", params={"phone": "79000000006"})
    assert r.json()["items"][0]["operator_code"] == "900"


async def test_csv_with_a_wrong_header_imports_nothing(api: httpx2.AsyncClient) -> None:
    r = await api.post("/api/v1/clients/import", content="tel,code\n79000000001,900\n")
    assert r.status_code == 200
    assert r.json() == {
        "created": 0,
        "updated": 0,
        "errors": [
            {"line": 1, "field": "header", "message": "must be phone,operator_code,tag,timezone"}
        ],
    }
