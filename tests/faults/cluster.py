"""Herald as real processes on this machine, and the faults to inject into them.

A :class:`Cluster` starts ``herald api``, ``herald scheduler`` and ``herald worker`` processes
with one environment (the test's own database and queue, short leases, fast retries), plus a
``herald fake-provider`` process, and hands out :class:`Proc` handles to kill, pause or stop.
Each process logs JSON lines to its own file under the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx2
import psutil

from herald.config import REPO_ROOT
from herald.storage import db
from tests import services

API_TOKEN = "faults-admin-token"
PROVIDER_TOKEN = "faults-provider-token"
HERALD = (sys.executable, "-m", "herald")
MESSAGES = int(os.environ.get("HERALD_FAULTS_MESSAGES", "10000"))
ELIGIBLE_CODE, OTHER_CODE = "900", "901"
SETTLE = 60 + MESSAGES / 200  # seconds a recovered cluster may take to finish a mailing

# Short leases and fast retries, so that every fault resolves within a test's seconds.
ENV: dict[str, str] = {
    "HERALD_CONCURRENCY": "50",
    "HERALD_BATCH_SIZE": "100",
    "HERALD_SEND_LEASE": "3",
    "HERALD_QUEUE_LEASE": "3",
    "HERALD_MAX_QUEUED": "1000",
    "HERALD_RETRY_BASE": "0.2",
    "HERALD_RETRY_CAP": "1",
    "HERALD_MAX_ATTEMPTS": "20",
    "HERALD_BREAKER_THRESHOLD": "10",
    "HERALD_BREAKER_COOLDOWN": "0.5",
    "HERALD_PROVIDER_TIMEOUT": "2",
    "HERALD_SHUTDOWN_GRACE": "5",
    "HERALD_DB_POOL_MIN": "1",
    "HERALD_DB_POOL_MAX": "6",
    "HERALD_LOG_LEVEL": os.environ.get("HERALD_FAULTS_LOG_LEVEL", "WARNING"),  # INFO to debug
    "HERALD_LOG_FORMAT": "json",
}

AUDIT_SQL = """
CREATE TABLE message_audit (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           bigint NOT NULL,
    old_status   message_status,
    new_status   message_status NOT NULL,
    old_attempts integer,
    new_attempts integer NOT NULL,
    at           timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION message_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO message_audit (id, new_status, new_attempts)
        VALUES (NEW.id, NEW.status, NEW.attempts);
    ELSIF OLD.status IS DISTINCT FROM NEW.status OR OLD.attempts IS DISTINCT FROM NEW.attempts THEN
        INSERT INTO message_audit (id, old_status, new_status, old_attempts, new_attempts)
        VALUES (NEW.id, OLD.status, NEW.status, OLD.attempts, NEW.attempts);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER message_audit AFTER INSERT OR UPDATE ON messages
    FOR EACH ROW EXECUTE FUNCTION message_audit();
"""


async def install_audit(conn: asyncpg.Connection) -> None:
    """Records every status change of the test's database (not part of the migrations)."""
    await conn.execute(AUDIT_SQL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Proc:
    """One ``herald <part>`` process."""

    part: str
    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def send(self, sig: int) -> None:
        if self.alive:
            self.process.send_signal(sig)

    async def kill9(self) -> None:
        self.send(signal.SIGKILL)
        await self.process.wait()

    async def stop(self, sig: int = signal.SIGTERM, within: float = 30) -> tuple[int, float]:
        """Sends ``sig`` and waits; returns the exit code and the seconds it took."""
        began = time.monotonic()
        self.send(sig)
        code = await asyncio.wait_for(self.process.wait(), within)
        return code, time.monotonic() - began

    def rss_mb(self) -> float:
        return float(psutil.Process(self.pid).memory_info().rss) / 2**20

    def log_lines(self, message: str) -> int:
        """How many JSON log lines of this process carry ``message``."""
        count = 0
        with self.log_path.open() as lines:
            for line in lines:
                with contextlib.suppress(ValueError):
                    count += json.loads(line).get("msg") == message
        return count


class FakeProvider:
    """A ``herald fake-provider`` process, controlled and read over HTTP."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc, self.port = proc, port
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx2.AsyncClient(base_url=self.url, timeout=30)

    @classmethod
    async def start(cls, log_path: Path) -> FakeProvider:
        port = free_port()
        with log_path.open("wb") as log:
            proc = subprocess.Popen(  # noqa: ASYNC220 - started once, waited for over HTTP
                [*HERALD, "fake-provider", "--port", str(port), "--token", PROVIDER_TOKEN],
                stdout=log,
                stderr=log,
                cwd=REPO_ROOT,
            )
        fake = cls(proc, port)
        await _until_answers(fake.http, "/_stats", 20)
        return fake

    async def control(self, **faults: object) -> None:
        r = await self.http.put("/_control", json=faults)
        assert r.status_code == 200, r.text

    async def log(self) -> list[dict[str, Any]]:
        r = await self.http.get("/_log")
        assert r.status_code == 200, r.text
        records: list[dict[str, Any]] = r.json()["requests"]
        return records

    async def count(self) -> int:
        r = await self.http.get("/_stats")
        total: int = r.json()["total"]
        return total

    async def stats(self) -> dict[str, Any]:
        r = await self.http.get("/_stats")
        found: dict[str, Any] = r.json()
        return found

    async def close(self) -> None:
        await self.http.aclose()
        self.proc.terminate()
        try:
            await asyncio.wait_for(asyncio.to_thread(self.proc.wait), 10)
        except TimeoutError:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait)


async def _until_answers(http: httpx2.AsyncClient, path: str, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        with contextlib.suppress(httpx2.HTTPError):
            if (await http.get(path)).status_code == 200:
                return
        assert time.monotonic() < deadline, f"{http.base_url}{path} did not answer in {within} s"
        await asyncio.sleep(0.1)


@dataclass
class Cluster:
    """The processes of one test, sharing its database, queue and provider."""

    db_url: str
    queue_name: str
    workdir: Path
    provider_url: str
    amqp_url: str = services.AMQP_URL
    settings: dict[str, str] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)
    api: httpx2.AsyncClient | None = None
    api_url: str = ""

    @property
    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HERALD_DATABASE_URL": self.db_url,
            "HERALD_AMQP_URL": self.amqp_url,
            "HERALD_QUEUE_NAME": self.queue_name,
            "HERALD_PROVIDER_URL": self.provider_url,
            "HERALD_PROVIDER_TOKEN": PROVIDER_TOKEN,
            "HERALD_API_TOKEN": API_TOKEN,
            **ENV,
            **self.settings,
        }

    async def start(self, part: str, *argv: str, **env: str) -> Proc:
        """Starts ``herald <part>`` (or, with ``argv``, another module's command line)."""
        n = sum(p.part == part for p in self.procs)
        log_path = self.workdir / f"{part}-{n}.log"
        command = list(argv) or [*HERALD, part]
        with log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                *command, env=self.env | env, cwd=REPO_ROOT, stdout=log, stderr=log
            )
        proc = Proc(part, process, log_path)
        self.procs.append(proc)
        return proc

    async def start_api(self) -> httpx2.AsyncClient:
        port = free_port()
        await self.start("api", HERALD_PORT=str(port))
        self.api_url = f"http://127.0.0.1:{port}"
        self.api = httpx2.AsyncClient(
            base_url=self.api_url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30
        )
        await _until_answers(self.api, "/healthz", 30)
        return self.api

    async def start_all(self, schedulers: int = 2, workers: int = 2) -> httpx2.AsyncClient:
        """The API, then the schedulers and workers; returns an API client."""
        api = await self.start_api()
        for _ in range(schedulers):
            await self.start("scheduler")
        for _ in range(workers):
            await self.start("worker")
        return api

    def alive(self, part: str) -> list[Proc]:
        return [p for p in self.procs if p.part == part and p.alive]

    async def close(self) -> None:
        for proc in self.procs:
            if proc.alive:
                proc.send(signal.SIGCONT)  # a paused process cannot die of SIGKILL's wait
                proc.send(signal.SIGKILL)
            await proc.process.wait()
        if self.api is not None:
            await self.api.aclose()
        await delete_queues(self.queue_name)


async def delete_queues(queue_name: str) -> None:
    connection = await aio_pika.connect(services.AMQP_URL, timeout=30)
    async with connection:
        channel = await connection.channel()
        for name in (queue_name, f"{queue_name}.dead"):
            await channel.queue_delete(name)


async def seed_clients(conn: asyncpg.Connection, eligible: int, others: int) -> None:
    """``eligible`` clients a mailing for ELIGIBLE_CODE reaches, and ``others`` it does not."""
    await conn.execute(
        """
        INSERT INTO clients (phone, operator_code)
        SELECT '7' || $2::text || lpad(i::text, 7, '0'), $2::text FROM generate_series(1, $1::int) i
        """,
        eligible,
        ELIGIBLE_CODE,
    )
    await conn.execute(
        """
        INSERT INTO clients (phone, operator_code)
        SELECT '7' || $2::text || lpad(i::text, 7, '0'), $2::text FROM generate_series(1, $1::int) i
        """,
        others,
        OTHER_CODE,
    )


async def create_mailing(
    api: httpx2.AsyncClient, *, end_in: float, start_in: float = -1.0, text: str = "Hello"
) -> dict[str, Any]:
    now = datetime.now(UTC)
    body = {
        "text": text,
        "start_at": (now + timedelta(seconds=start_in)).isoformat(),
        "end_at": (now + timedelta(seconds=end_in)).isoformat(),
        "filter": {"operator_codes": [ELIGIBLE_CODE], "tags": []},
    }
    r = await api.post("/api/v1/mailings", json=body)
    assert r.status_code == 201, r.text
    mailing: dict[str, Any] = r.json()
    return mailing


async def unsent(pool: asyncpg.Pool, mailing_id: int) -> int:
    n: int = await pool.fetchval(
        "SELECT count(*) FROM messages WHERE mailing_id = $1 "
        "AND status IN ('pending', 'queued', 'sending')",
        mailing_id,
    )
    return n


async def count_status(pool: asyncpg.Pool, mailing_id: int, status: str) -> int:
    n: int = await pool.fetchval(
        "SELECT count(*) FROM messages WHERE mailing_id = $1 AND status = $2::message_status",
        mailing_id,
        status,
    )
    return n


async def message_total(pool: asyncpg.Pool, mailing_id: int) -> int:
    n: int = await pool.fetchval("SELECT count(*) FROM messages WHERE mailing_id = $1", mailing_id)
    return n


async def settled(pool: asyncpg.Pool, mailing_id: int, expected: int, within: float) -> float:
    """Waits until ``expected`` messages exist and none is unsent; returns the unix time."""
    deadline = time.monotonic() + within
    while True:
        with contextlib.suppress(*UNREACHABLE):
            if await message_total(pool, mailing_id) >= expected and not await unsent(
                pool, mailing_id
            ):
                return time.time()
        assert time.monotonic() < deadline, f"mailing {mailing_id} not settled in {within} s"
        await asyncio.sleep(0.2)


async def until(condition: Any, within: float, what: str, every: float = 0.05) -> None:
    """Polls an async ``condition()`` until it is true; fails after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(every)


UNREACHABLE = db.UNAVAILABLE


@contextlib.asynccontextmanager
async def sampling(
    every: float, sample: Any, into: list[Any]
) -> AsyncIterator[list[Any]]:  # pragma: no cover - trivial
    """Calls ``sample()`` every ``every`` seconds while the block runs, appending results."""

    async def loop() -> None:
        while True:
            with contextlib.suppress(Exception):
                into.append(await sample())
            await asyncio.sleep(every)

    task = asyncio.create_task(loop())
    try:
        yield into
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def env_mapping(values: Mapping[str, object]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items()}


@dataclass
class ApiProbe:
    """Asks the API a fixed round of questions, one at a time, and records every answer."""

    api: httpx2.AsyncClient
    paths: list[str]
    pause: float = 0.02
    samples: list[tuple[float, int, float]] = field(default_factory=list)  # (at, status, s)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ApiProbe]:
        task = asyncio.create_task(self._loop())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            for path in self.paths:
                at, began = time.time(), time.monotonic()
                try:
                    status = (await self.api.get(path, timeout=10)).status_code
                except httpx2.HTTPError:
                    status = 0  # no answer at all
                self.samples.append((at, status, time.monotonic() - began))
                await asyncio.sleep(self.pause)

    def between(self, start: float, end: float) -> list[tuple[float, int, float]]:
        return [s for s in self.samples if start <= s[0] < end]


def p99(samples: list[tuple[float, int, float]]) -> float:
    latencies = sorted(s[2] for s in samples)
    assert latencies, "no samples"
    return latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
