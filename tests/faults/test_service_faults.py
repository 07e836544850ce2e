"""Scenarios 5, 6: RabbitMQ and PostgreSQL restarted under load, and the broker link cut.

The restarts take the machine's real services down for a few seconds (other test runs on the
same machine notice); each one restores its service in a ``finally``, whatever happens.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.faults import cluster as harness
from tests.faults.checker import Expect, Report, check
from tests.faults.proxy import Mode, Proxy

PG_CLUSTER = os.environ.get("HERALD_FAULTS_PG_CLUSTER", "15 main").split()
DOWN = 4.0  # seconds a service stays down
LEASE = 10.0  # scenario 6's leases: longer than the outage


async def _run(*command: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, f"{' '.join(command)}: {err.decode()}"


async def _answers(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


@contextlib.asynccontextmanager
async def rabbitmq_down() -> AsyncIterator[None]:
    """RabbitMQ's application stopped for the block; started again whatever happens."""
    await _run("rabbitmqctl", "stop_app")
    try:
        yield
    finally:
        await _run("rabbitmqctl", "start_app")
        await _run("rabbitmqctl", "await_startup")


@contextlib.asynccontextmanager
async def postgresql_down() -> AsyncIterator[None]:
    """PostgreSQL stopped at once (``-m immediate``: a crash) for the block, then started."""
    pg = ["pg_ctlcluster", "--skip-systemctl-redirect", *PG_CLUSTER]
    await _run(*pg, "stop", "-m", "immediate")
    try:
        yield
    finally:
        await _run(*pg, "start")
        await harness.until(lambda: _answers(5432), 60, "PostgreSQL back")


@pytest.fixture
async def broker_proxy() -> AsyncIterator[Proxy]:
    proxy = await Proxy("127.0.0.1", 5672).start()
    yield proxy
    await proxy.stop()


async def test_5a_rabbitmq_restarted_mid_publish_and_mid_consume(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    await fake.control(latency=0.05)
    api = await cluster.start_all(workers=2)
    pids = sorted(p.pid for p in cluster.procs)
    began = time.time()
    mailing = await harness.create_mailing(api, end_in=300)
    await harness.until(lambda: _sent_at_least(pool, mailing["id"], 2000), 60, "sending")
    async with rabbitmq_down():
        await asyncio.sleep(DOWN)
    cleared = time.time()
    await harness.settled(pool, mailing["id"], harness.MESSAGES, within=harness.SETTLE)
    report = await check(
        f"5a RabbitMQ stop_app {DOWN:g} s + start_app mid-mailing",
        pool,
        await fake.log(),
        [Expect(mailing["id"])],
        api,
        started_at=began,
        cleared_at=cleared,
    )
    report.notes = "no process restarted; recovery: broker back -> first accepted send"
    record(report)
    assert report.violations == []
    assert sorted(p.pid for p in cluster.procs if p.alive) == pids
    assert (report.lost, report.duplicates, report.late) == (0, 0, 0)


async def test_5b_broker_link_stalled_then_cut(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    broker_proxy: Proxy,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    cluster.amqp_url = f"amqp://guest:guest@{broker_proxy.url_host}/"
    await fake.control(latency=0.05)
    api = await cluster.start_all(workers=2)
    pids = sorted(p.pid for p in cluster.procs)
    began = time.time()
    mailing = await harness.create_mailing(api, end_in=300)
    await harness.until(lambda: _sent_at_least(pool, mailing["id"], 2000), 60, "sending")
    broker_proxy.set(Mode.STALL)
    await asyncio.sleep(DOWN)
    broker_proxy.set(Mode.PASS)
    await asyncio.sleep(1)
    broker_proxy.set(Mode.CUT)
    await asyncio.sleep(DOWN)
    broker_proxy.set(Mode.PASS)
    cleared = time.time()
    await harness.settled(pool, mailing["id"], harness.MESSAGES, within=harness.SETTLE)
    report = await check(
        f"5b broker link stalled {DOWN:g} s, then cut {DOWN:g} s (proxy)",
        pool,
        await fake.log(),
        [Expect(mailing["id"])],
        api,
        started_at=began,
        cleared_at=cleared,
    )
    report.notes = f"broker connections made through the proxy: {len(broker_proxy.accepted)}"
    record(report)
    assert report.violations == []
    assert sorted(p.pid for p in cluster.procs if p.alive) == pids
    assert (report.lost, report.duplicates, report.late) == (0, 0, 0)


async def test_6_postgresql_restarted_under_load(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    # Leases longer than the outage: a worker that waits the outage out is not taken for dead,
    # so its answered calls are written, not sent again. (An outage longer than the lease is
    # a dead worker to the scheduler: scenario 3.)
    cluster.settings |= {"HERALD_SEND_LEASE": str(LEASE), "HERALD_QUEUE_LEASE": str(LEASE)}
    await fake.control(latency=0.05)
    api = await cluster.start_all(workers=2)
    pids = sorted(p.pid for p in cluster.procs)
    began = time.time()
    mailing = await harness.create_mailing(api, end_in=300)
    await harness.until(lambda: _sent_at_least(pool, mailing["id"], 2000), 60, "sending")
    probe = harness.ApiProbe(api, ["/api/v1/stats", f"/api/v1/mailings/{mailing['id']}"])
    async with probe.running():
        async with postgresql_down():
            down_from = time.time()
            await asyncio.sleep(DOWN)
            down_to = time.time()
            ready = (await api.get("/readyz")).json()
        cleared = time.time()
        await harness.settled(pool, mailing["id"], harness.MESSAGES, within=harness.SETTLE)
    report = await check(
        f"6 PostgreSQL stopped -m immediate {DOWN:g} s, started (leases {LEASE:g} s)",
        pool,
        await fake.log(),
        [Expect(mailing["id"])],
        api,
        started_at=began,
        cleared_at=cleared,
    )
    # The first second after the stop belongs to requests already under way.
    down = probe.between(down_from + 0.5, down_to)
    answers = collections.Counter(status for _, status, _ in down)
    slowest = max(seconds for _, _, seconds in down)
    report.notes = (
        f"API while down: {dict(answers)}, slowest {slowest * 1000:.0f} ms; readyz {ready}; "
        f"no process restarted"
    )
    record(report)
    assert report.violations == []
    assert set(answers) == {503}
    assert slowest < 1.0
    assert ready["database"] == "down"
    assert sorted(p.pid for p in cluster.procs if p.alive) == pids
    assert (report.lost, report.duplicates, report.late) == (0, 0, 0)


async def test_6b_every_database_connection_killed_then_end_moved_earlier(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    """Every session of the test's database killed at once (what a failover does to clients),
    then calls cut short by an earlier end: each process must have listened again."""
    concurrency, workers = int(harness.ENV["HERALD_CONCURRENCY"]), 2
    await fake.control(latency=0.05)
    api = await cluster.start_all(workers=workers)
    pids = sorted(p.pid for p in cluster.procs)
    began = time.time()
    mailing = await harness.create_mailing(api, end_in=300)
    await harness.until(lambda: _sent_at_least(pool, mailing["id"], 1000), 60, "sending")
    killed = await pool.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    await asyncio.sleep(2)
    await fake.control(latency=1.5)  # calls that would outlive the new end unless cut
    await harness.until(lambda: _in_flight_at_least(fake, concurrency), 30, "calls in flight")
    new_end = datetime.now(UTC) + timedelta(seconds=0.3)
    r = await api.patch(f"/api/v1/mailings/{mailing['id']}", json={"end_at": new_end.isoformat()})
    assert r.status_code == 200, r.text
    await harness.settled(pool, mailing["id"], harness.MESSAGES, within=30)
    in_flight = workers * concurrency
    report = await check(
        "6b all database sessions killed, then end_at moved 0.3 s ahead",
        pool,
        await fake.log(),
        [Expect(mailing["id"], frozenset({"sent", "expired"}), ambiguous=in_flight)],
        api,
        started_at=began,
    )
    relistened = sum(p.log_lines("notification channel lost") for p in cluster.procs)
    report.notes = (
        f"{killed} sessions killed; {relistened} LISTEN connections lost and replaced; "
        f"calls in flight cut at the new end; no process restarted"
    )
    record(report)
    assert report.violations == []
    assert sorted(p.pid for p in cluster.procs if p.alive) == pids
    assert (report.lost, report.duplicates, report.late) == (0, 0, 0)


async def _in_flight_at_least(fake: harness.FakeProvider, n: int) -> bool:
    in_flight: int = (await fake.stats())["in_flight"]
    return in_flight >= n


async def _sent_at_least(pool: asyncpg.Pool, mailing_id: int, n: int) -> bool:
    return await harness.count_status(pool, mailing_id, "sent") >= n
