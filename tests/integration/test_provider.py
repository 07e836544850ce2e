"""The sending-API adapter against the fake provider, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web

from herald.providers import base, fake, sending_api

TOKEN = "s3cr3t-provider-token-0123"
PHONE = "79001234567"


def _request(message_id: int = 1, text: str = "hello") -> base.SendRequest:
    return base.SendRequest(message_id=message_id, phone=PHONE, text=text)


@pytest.fixture
async def provider_double() -> AsyncIterator[fake.FakeProvider]:
    double = await fake.start_fake_provider("127.0.0.1", 0, TOKEN)
    yield double
    await double.stop()


@pytest.fixture
async def provider(
    provider_double: fake.FakeProvider,
) -> AsyncIterator[sending_api.SendingApiProvider]:
    adapter = sending_api.SendingApiProvider(provider_double.url, TOKEN, concurrency=10)
    yield adapter
    await adapter.close()


@pytest.fixture
async def control(provider_double: fake.FakeProvider) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(provider_double.url) as session:
        yield session


async def _set_faults(control: aiohttp.ClientSession, **changes: object) -> None:
    async with control.put("/_control", json=changes) as response:
        assert response.status == 200, await response.text()


async def test_success_is_sent_and_recorded(
    provider: sending_api.SendingApiProvider, provider_double: fake.FakeProvider
) -> None:
    before = time.time()
    result = await provider.send(_request(42, "héllo"), timeout=2.0)
    after = time.time()

    assert result == base.SendResult(base.Outcome.SENT, status=200)
    [record] = provider_double.log
    assert record["id"] == 42
    assert record["phone"] == int(PHONE)
    assert record["text"] == "héllo"
    assert record["status"] == 200
    assert before <= record["arrived_at"] <= after


async def test_server_error_is_retry(
    provider: sending_api.SendingApiProvider, control: aiohttp.ClientSession
) -> None:
    await _set_faults(control, error_rate=1.0)

    result = await provider.send(_request(), timeout=2.0)

    assert result == base.SendResult(base.Outcome.RETRY, "http 500", status=500)


async def test_garbage_is_retry_and_never_sent(
    provider: sending_api.SendingApiProvider,
    provider_double: fake.FakeProvider,
    control: aiohttp.ClientSession,
) -> None:
    await _set_faults(control, garbage_rate=1.0)

    results = [await provider.send(_request(i), timeout=2.0) for i in range(4)]

    assert {r.outcome for r in results} == {base.Outcome.RETRY}
    assert {r.error for r in results} == {sending_api.GARBAGE}
    # Both garbage shapes (html and a nonzero code) went out and were refused.
    assert [r["answer"] for r in provider_double.log] == ["garbage"] * 4


async def test_rate_limited_carries_retry_after(
    provider: sending_api.SendingApiProvider, control: aiohttp.ClientSession
) -> None:
    await _set_faults(control, rate_limit_rate=1.0, retry_after=7)

    result = await provider.send(_request(), timeout=2.0)

    assert result == base.SendResult(base.Outcome.RATE_LIMITED, "http 429", 7.0, 429)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (400, base.Outcome.FAILED),
        (404, base.Outcome.FAILED),
        (422, base.Outcome.FAILED),
        (401, base.Outcome.UNAUTHORIZED),
        (403, base.Outcome.UNAUTHORIZED),
        (302, base.Outcome.RETRY),
        (418, base.Outcome.RETRY),
        (503, base.Outcome.RETRY),
    ],
)
async def test_error_status_classification(
    provider: sending_api.SendingApiProvider,
    provider_double: fake.FakeProvider,
    status: int,
    outcome: base.Outcome,
) -> None:
    provider_double.apply_faults({"error_rate": 1.0, "error_status": status})

    result = await provider.send(_request(), timeout=2.0)

    assert result == base.SendResult(outcome, f"http {status}", status=status)


async def test_unauthorized_fault_is_logged_with_401(
    provider: sending_api.SendingApiProvider,
    provider_double: fake.FakeProvider,
    control: aiohttp.ClientSession,
) -> None:
    await _set_faults(control, unauthorized=True)

    result = await provider.send(_request(5), timeout=2.0)

    assert result.outcome is base.Outcome.UNAUTHORIZED
    assert [(r["id"], r["status"]) for r in provider_double.log] == [(5, 401)]


async def test_wrong_token_is_unauthorized(provider_double: fake.FakeProvider) -> None:
    async with sending_api.SendingApiProvider(provider_double.url, "wrong", 2) as adapter:
        result = await adapter.send(_request(), timeout=2.0)

    assert result == base.SendResult(base.Outcome.UNAUTHORIZED, "http 401", status=401)


async def test_hang_is_a_timeout_within_the_budget(
    provider: sending_api.SendingApiProvider, provider_double: fake.FakeProvider
) -> None:
    provider_double.apply_faults({"hang": True})

    started = time.monotonic()
    result = await provider.send(_request(), timeout=0.3)
    elapsed = time.monotonic() - started

    assert result == base.SendResult(base.Outcome.RETRY, sending_api.TIMEOUT)
    assert elapsed < 1.0
    # The client hung up, so the fake's hung handler must have been cancelled.
    await _until(lambda: provider_double.stats()["in_flight"] == 0)


async def test_no_budget_sends_nothing(
    provider: sending_api.SendingApiProvider, provider_double: fake.FakeProvider
) -> None:
    results = [await provider.send(_request(), timeout=t) for t in (0.0, -1.0, float("nan"))]

    assert {r.error for r in results} == {sending_api.TIMEOUT}
    assert provider_double.log == []


async def test_refused_connections_retry_then_recover(
    provider: sending_api.SendingApiProvider,
    provider_double: fake.FakeProvider,
    control: aiohttp.ClientSession,
) -> None:
    # A kept-alive connection exists before the outage: it must not bypass it.
    assert (await provider.send(_request(1), timeout=2.0)).outcome is base.Outcome.SENT
    await _set_faults(control, refuse_for=0.5)

    refused = await provider.send(_request(2), timeout=2.0)
    await asyncio.sleep(0.7)
    recovered = await provider.send(_request(3), timeout=2.0)

    assert refused.outcome is base.Outcome.RETRY
    assert refused.status is None
    assert recovered.outcome is base.Outcome.SENT
    assert [r["id"] for r in provider_double.log] == [1, 3]
    assert provider_double.faults.refuse_for == 0.0


async def test_connection_refused_is_retry() -> None:
    async with sending_api.SendingApiProvider(f"http://127.0.0.1:{_closed_port()}", TOKEN, 1) as p:
        result = await p.send(_request(), timeout=2.0)

    assert result.outcome is base.Outcome.RETRY
    assert result.error is not None
    assert result.error.startswith("ClientConnectorError")


async def test_concurrency_never_exceeds_the_connector_limit(
    provider: sending_api.SendingApiProvider, provider_double: fake.FakeProvider
) -> None:
    provider_double.apply_faults({"latency": 0.1})

    results = await asyncio.gather(*(provider.send(_request(i), timeout=5.0) for i in range(50)))

    assert {r.outcome for r in results} == {base.Outcome.SENT}
    assert provider_double.stats()["max_in_flight"] == 10
    assert sorted(r["id"] for r in provider_double.log) == list(range(50))


async def test_the_token_never_appears_in_errors_or_logs(
    provider: sending_api.SendingApiProvider,
    provider_double: fake.FakeProvider,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="herald.providers")
    faults: list[dict[str, object]] = [
        {"error_rate": 1.0},
        {"error_rate": 0.0, "garbage_rate": 1.0},
        {"garbage_rate": 0.0, "rate_limit_rate": 1.0},
        {"rate_limit_rate": 0.0, "unauthorized": True},
        {"unauthorized": False, "hang": True},
    ]
    results = []
    for changes in faults:
        provider_double.apply_faults(changes)
        results.append(await provider.send(_request(), timeout=0.3))
    await provider_double.refuse(5.0)
    results.append(await provider.send(_request(), timeout=0.3))

    assert all(r.error for r in results)
    assert not [r for r in results if TOKEN in str(r)]
    assert TOKEN not in caplog.text
    assert not [r for r in caplog.records if TOKEN in str(r.__dict__)]


async def test_control_rejects_unknown_and_bad_fields(
    provider_double: fake.FakeProvider, control: aiohttp.ClientSession
) -> None:
    for changes in ({"nope": 1}, {"error_rate": 2}, {"latency": 1, "hang": "yes"}):
        async with control.put("/_control", json=changes) as response:
            assert response.status == 400
    async with control.get("/_control") as response:
        assert await response.json() == {
            "latency": 0.0,
            "latency_spread": 0.0,
            "hang": False,
            "error_rate": 0.0,
            "error_status": 500,
            "garbage_rate": 0.0,
            "rate_limit_rate": 0.0,
            "retry_after": 1.0,
            "unauthorized": False,
            "refuse_for": 0.0,
        }


async def test_fake_rejects_a_bad_body_and_logs_it(
    provider_double: fake.FakeProvider, control: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with control.post("/v1/send/9", data=b"{", headers=headers) as response:
        assert response.status == 400

    assert [(r["id"], r["phone"], r["status"]) for r in provider_double.log] == [(9, None, 400)]


async def test_log_polling_stats_and_clearing(
    provider: sending_api.SendingApiProvider, control: aiohttp.ClientSession
) -> None:
    for message_id in (1, 2, 3):
        await provider.send(_request(message_id), timeout=2.0)

    async with control.get("/_log", params={"after": "1"}) as response:
        page = await response.json()
    async with control.get("/_stats") as response:
        stats = await response.json()
    async with control.delete("/_log") as response:
        assert response.status == 204
    async with control.get("/_log") as response:
        emptied = await response.json()

    assert [r["id"] for r in page["requests"]] == [2, 3]
    assert page["next"] == 3
    first, last = stats.pop("first_arrival"), stats.pop("last_arrival")
    assert first <= last
    assert stats == {"total": 3, "by_status": {"200": 3}, "max_in_flight": 1, "in_flight": 0}
    assert emptied == {"requests": [], "next": 0}


# A server that misbehaves in ways the fake does not: redirects, slow and oversized bodies.


@pytest.fixture
async def odd_server() -> AsyncIterator[tuple[str, list[str]]]:
    hits: list[str] = []

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/target")

    async def target(request: web.Request) -> web.Response:
        hits.append(request.method)
        return web.json_response({"code": 0, "message": "OK"})

    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b'{"code": ')
        await asyncio.sleep(30)  # cancelled when the client gives up
        return response

    async def huge(request: web.Request) -> web.Response:
        return web.json_response({"code": 0, "pad": "x" * 100_000})

    app = web.Application()
    app.router.add_post(r"/redirect/v1/send/{id:\d+}", redirect)
    app.router.add_route("*", "/target", target)
    app.router.add_post(r"/drip/v1/send/{id:\d+}", drip)
    app.router.add_post(r"/huge/v1/send/{id:\d+}", huge)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site.port}", hits
    finally:
        await runner.cleanup()


async def test_redirect_is_not_followed(odd_server: tuple[str, list[str]]) -> None:
    url, hits = odd_server
    async with sending_api.SendingApiProvider(f"{url}/redirect", TOKEN, 1) as adapter:
        result = await adapter.send(_request(), timeout=2.0)

    assert result == base.SendResult(base.Outcome.RETRY, "http 302", status=302)
    assert hits == []


# Past 5 s, aiohttp rounds a timeout up to the next whole second of the loop's clock by default
# (its ceil_threshold): a budget that ends at a mailing's end_at must end there.
@pytest.mark.parametrize(("budget", "slack"), [(0.3, 0.7), (5.05, 0.3)])
async def test_a_slow_body_is_bounded_by_the_timeout(
    odd_server: tuple[str, list[str]], budget: float, slack: float
) -> None:
    url, _ = odd_server
    async with sending_api.SendingApiProvider(f"{url}/drip", TOKEN, 1) as adapter:
        started = time.monotonic()
        result = await adapter.send(_request(), timeout=budget)
        elapsed = time.monotonic() - started

    assert result == base.SendResult(base.Outcome.RETRY, sending_api.TIMEOUT)
    assert budget - 0.01 <= elapsed < budget + slack, elapsed


async def test_an_oversized_body_is_garbage(odd_server: tuple[str, list[str]]) -> None:
    url, _ = odd_server
    async with sending_api.SendingApiProvider(f"{url}/huge", TOKEN, 1) as adapter:
        result = await adapter.send(_request(), timeout=2.0)

    assert result == base.SendResult(base.Outcome.RETRY, sending_api.GARBAGE, status=200)


async def test_sending_after_close_is_an_error(provider_double: fake.FakeProvider) -> None:
    adapter = sending_api.SendingApiProvider(provider_double.url, TOKEN, 1)
    await adapter.close()

    with pytest.raises(RuntimeError, match="closed"):
        await adapter.send(_request(), timeout=1.0)


def _closed_port() -> int:
    """A loopback port that was free a moment ago and has no listener now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _until(condition: Callable[[], bool], within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
