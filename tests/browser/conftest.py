"""A real ``herald serve`` (its own database, the built-in fake provider) driven by Debian's
Chromium through Playwright.

Every page is watched: a console error or warning, an uncaught exception, a failed request, an
error answer the test did not announce with ``watch.expect(...)``, or a request to any host but
Herald's fails the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx2
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    Route,
    async_playwright,
)

from tests import services
from tests.browser import steps

TOKEN = "browser-admin-token"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEZONE = "Asia/Kolkata"  # +05:30: a half-hour offset catches datetimes sent without it
RATE_LIMIT = 150  # messages/s, so that progress is seen moving, not only finished
STARTUP_SECONDS = 30


@dataclass(frozen=True)
class Server:
    url: str
    provider_url: str  # the fake provider ``herald serve`` started: PUT /_control sets faults
    log: Path


def _free_ports(n: int) -> list[int]:
    """n distinct ports free now (held together while chosen, so they differ)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


@pytest.fixture(scope="session")
async def server_db(template_db: str) -> AsyncIterator[str]:
    """A database of the browser session, copied from the migrated template."""
    name = f"herald_browser_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(services.DATABASE_URL, timeout=10)
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
    finally:
        await admin.close()
    yield services.database_url(name)
    admin = await asyncpg.connect(services.DATABASE_URL, timeout=10)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


def _server_env(db_url: str, port: int, provider_port: int, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(
        HERALD_DATABASE_URL=db_url,
        HERALD_API_TOKEN=TOKEN,
        HERALD_PORT=str(port),
        HERALD_DATA_DIR=str(data_dir),
        HERALD_FAKE_PROVIDER_PORT=str(provider_port),
        HERALD_RATE_LIMIT=str(RATE_LIMIT),
        HERALD_BREAKER_COOLDOWN="0.5",
        HERALD_LOG_FORMAT="json",
        HERALD_SHUTDOWN_GRACE="2",
    )
    return env


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"herald serve exited with {process.returncode}:\n{log.read_text()[-3000:]}"
            )
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(f"{url}/healthz", timeout=1) as answer,  # noqa: S310 - loopback
        ):
            if answer.status == 200:
                return
        time.sleep(0.1)
    pytest.fail(
        f"herald serve did not answer /healthz in {STARTUP_SECONDS}s:\n{log.read_text()[-3000:]}"
    )


@pytest.fixture(scope="session")
def server(server_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``python -m herald serve`` on a free port, stopped with SIGTERM at the end."""
    home = tmp_path_factory.mktemp("herald-serve")
    port, provider_port = _free_ports(2)
    log = home / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "herald", "serve"],
            env=_server_env(server_db, port, provider_port, home / ".herald"),
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=home,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield Server(url, f"http://127.0.0.1:{provider_port}", log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
async def api(server: Server) -> AsyncIterator[httpx2.AsyncClient]:
    """The same server's API, to prepare data and check what the UI did."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx2.AsyncClient(base_url=f"{server.url}/api/v1", headers=headers) as client:
        yield client


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    await browser.close()


@dataclass
class Watch:
    """What went wrong in the browser; ``expect`` announces an error answer the test provokes."""

    origin: str
    problems: list[str] = field(default_factory=list)
    expected: list[tuple[int, str]] = field(default_factory=list)
    offline_ok: bool = False  # the test cuts the API off: its failed calls are the point

    def expect(self, status: int, path: str) -> None:
        """An answer ``status`` from a URL containing ``path`` is the point of the test."""
        self.expected.append((status, path))

    def _expected(self, status: int, url: str) -> bool:
        return any(status == s and path in url for s, path in self.expected)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type not in {"error", "warning"}:
            return
        url = str(message.location.get("url", ""))
        status = next((s for s, _ in self.expected if f"status of {s}" in message.text), None)
        if status is not None and self._expected(status, url):
            return
        if self.offline_ok and "net::ERR_" in message.text and "/api/v1/" in url:
            return
        self.problems.append(f"console {message.type}: {message.text} ({url})")

    def on_response(self, response: Response) -> None:
        if response.status >= 400 and not self._expected(response.status, response.url):
            self.problems.append(f"HTTP {response.status} {response.request.method} {response.url}")

    def on_request_failed(self, request: Request) -> None:
        if not (self.offline_ok and "/api/v1/" in request.url):
            self.problems.append(
                f"request failed: {request.method} {request.url} {request.failure}"
            )

    def on_page_error(self, error: Any) -> None:
        self.problems.append(f"uncaught: {error}")

    async def only_herald(self, route: Route) -> None:
        parts = urlsplit(route.request.url)
        if f"{parts.scheme}://{parts.netloc}" == self.origin:
            await route.continue_()
            return
        self.problems.append(f"request to another host: {route.request.url}")
        await route.abort()


@pytest.fixture
async def context(browser: Browser, server: Server) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(
        base_url=server.url,
        viewport={"width": 1280, "height": 860},
        timezone_id=TIMEZONE,
        locale="en-GB",
    )
    context.set_default_timeout(10_000)
    yield context
    await context.close()


@pytest.fixture
async def watch(context: BrowserContext, server: Server) -> AsyncIterator[Watch]:
    found = Watch(origin=server.url)
    await context.route("**/*", found.only_herald)
    yield found
    problems = list(found.problems)
    assert not problems, "the browser reported:\n" + "\n".join(problems)


@pytest.fixture
async def page(context: BrowserContext, watch: Watch) -> Page:
    """A watched page of a fresh context (so a fresh sessionStorage: signed out)."""
    page = await context.new_page()
    watch_page(page, watch)
    return page


_EVENTS = ("console", "response", "requestfailed", "pageerror")


def _handlers(watch: Watch) -> list[Any]:
    return [watch.on_console, watch.on_response, watch.on_request_failed, watch.on_page_error]


def watch_page(page: Page, watch: Watch) -> None:
    for event, handler in zip(_EVENTS, _handlers(watch), strict=True):
        page.on(event, handler)


async def close_page(page: Page, watch: Watch) -> None:
    """Closes a second page; a poll it had in flight is cut by the closing, not failed."""
    for event, handler in zip(_EVENTS, _handlers(watch), strict=True):
        page.remove_listener(event, handler)
    await page.close()


@pytest.fixture
async def signed_in(page: Page) -> Page:
    """The page, signed in and on the dashboard."""
    await steps.sign_in(page, TOKEN)
    return page
