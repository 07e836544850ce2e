"""Scenarios 2, 3, 4, 7, 16: Herald's own processes killed, paused and stopped mid-mailing."""

from __future__ import annotations

import asyncio
import functools
import signal
import time
from collections.abc import Callable

import asyncpg

from tests.faults import cluster as harness
from tests.faults.checker import Expect, Report, check

CONCURRENCY = int(harness.ENV["HERALD_CONCURRENCY"])
SEND_LEASE = float(harness.ENV["HERALD_SEND_LEASE"])
GRACE = float(harness.ENV["HERALD_SHUTDOWN_GRACE"])
RESCUE_SLACK = 2.0  # a scheduler's maintain loop runs every poll interval (1 s)


async def test_2_kill_9_a_worker_every_few_seconds(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    await fake.control(latency=0.1)  # sending lasts long enough for several kills
    api = await cluster.start_all(workers=3)
    began = time.time()
    mailing = await harness.create_mailing(api, end_in=300)
    kills = 0
    cleared = time.time()
    while await harness.count_status(pool, mailing["id"], "sent") < harness.MESSAGES * 0.8:
        await asyncio.sleep(1.5)
        victim = cluster.alive("worker")[kills % 3]
        await victim.kill9()
        kills += 1
        await cluster.start("worker")
        cleared = time.time()
    await harness.settled(pool, mailing["id"], harness.MESSAGES, within=harness.SETTLE)
    report = await check(
        "2 kill -9 a worker every 1.5 s",
        pool,
        await fake.log(),
        [Expect(mailing["id"])],
        api,
        started_at=began,
        cleared_at=cleared,
    )
    bound = kills * CONCURRENCY
    report.notes = f"{kills} kills; duplicate bound {bound} (concurrency x kills)"
    record(report)
    assert report.violations == []
    assert kills >= 3
    assert (report.lost, report.late) == (0, 0)
    assert report.duplicates <= bound


async def test_3_every_worker_killed_and_back_30_s_later(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    await fake.control(latency=0.05)
    api = await cluster.start_all(workers=3)
    began = time.time()
    mailing = await harness.create_mailing(api, end_in=300)
    await harness.until(
        lambda: _sent_at_least(pool, mailing["id"], harness.MESSAGES // 5), 60, "sending"
    )
    for worker in cluster.alive("worker"):
        await worker.kill9()
    killed = time.monotonic()
    worst = 0
    while time.monotonic() - killed < 30:
        worst = max(worst, await _overdue(pool, RESCUE_SLACK))
        await asyncio.sleep(0.5)
    leftover = await pool.fetchval("SELECT count(*) FROM messages WHERE status = 'sending'")
    for _ in range(3):
        await cluster.start("worker")
    cleared = time.time()
    await harness.settled(pool, mailing["id"], harness.MESSAGES, within=harness.SETTLE)
    report = await check(
        "3 every worker kill -9, back 30 s later",
        pool,
        await fake.log(),
        [Expect(mailing["id"])],
        api,
        started_at=began,
        cleared_at=cleared,
    )
    report.notes = (
        f"rows sending past lease+{RESCUE_SLACK:g} s during the outage: {worst}; "
        f"sending after 30 s: {leftover}"
    )
    record(report)
    assert report.violations == []
    assert (worst, leftover) == (0, 0)
    assert (report.lost, report.late) == (0, 0)
    assert report.duplicates <= 3 * CONCURRENCY


async def test_4_kill_9_the_schedulers_mid_fan_out(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    cluster.settings["HERALD_FANOUT_CHUNK"] = "100"
    api = await cluster.start_all(schedulers=2, workers=2)
    began = time.time()
    mailing = await harness.create_mailing(api, end_in=300)
    kills, made = 0, 0
    for _ in range(2):
        growing = functools.partial(_fanning_out, pool, mailing["id"], made)
        await harness.until(growing, 30, "fan-out", every=0.01)
        for scheduler in cluster.alive("scheduler"):
            await scheduler.kill9()
            kills += 1
        made = await harness.message_total(pool, mailing["id"])
        assert made < harness.MESSAGES, "the fan-out finished before the kill"
        for _ in range(2):
            await cluster.start("scheduler")
    cleared = time.time()
    await harness.settled(pool, mailing["id"], harness.MESSAGES, within=harness.SETTLE)
    report = await check(
        "4 kill -9 both schedulers mid fan-out (twice)",
        pool,
        await fake.log(),
        [Expect(mailing["id"])],
        api,
        started_at=began,
        cleared_at=cleared,
    )
    report.notes = f"{kills} scheduler kills during the fan-out (chunks of 100 clients)"
    record(report)
    assert report.violations == []
    assert (report.lost, report.duplicates, report.late) == (0, 0, 0)


async def test_7_sigstop_past_the_lease_then_sigcont(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    await fake.control(latency=0.2)
    api = await cluster.start_all(workers=2)
    began = time.time()
    mailing = await harness.create_mailing(api, end_in=300)
    victim = cluster.alive("worker")[0]
    await harness.until(
        lambda: _sent_at_least(pool, mailing["id"], harness.MESSAGES // 10), 60, "sending"
    )
    victim.send(signal.SIGSTOP)
    await asyncio.sleep(SEND_LEASE + 4)  # its lease expires and the rows are rescued
    victim.send(signal.SIGCONT)
    cleared = time.time()
    await fake.control(latency=0.02)
    await harness.settled(pool, mailing["id"], harness.MESSAGES, within=harness.SETTLE)
    refused = victim.log_lines("write-back refused: lease lost")
    report = await check(
        f"7 SIGSTOP a worker {SEND_LEASE + 4:g} s (lease {SEND_LEASE:g} s)",
        pool,
        await fake.log(),
        [Expect(mailing["id"])],
        api,
        started_at=began,
        cleared_at=cleared,
    )
    report.notes = f"late write-backs refused by the attempt fence: {refused}"
    record(report)
    assert report.violations == []
    assert victim.alive
    assert refused > 0, "the paused worker wrote nothing late: the fence was not exercised"
    assert (report.lost, report.late) == (0, 0)
    assert report.duplicates <= CONCURRENCY


async def test_16_sigterm_under_load(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    await fake.control(latency=1.0)
    api = await cluster.start_all(workers=2)
    began = time.time()
    mailing = await harness.create_mailing(api, end_in=300)
    await harness.until(lambda: _in_flight_at_least(fake, CONCURRENCY), 30, "calls in flight")
    stopping = time.time()
    workers = cluster.alive("worker")
    exits = await asyncio.gather(*(worker.stop(signal.SIGTERM) for worker in workers))
    sending = await pool.fetchval("SELECT count(*) FROM messages WHERE status = 'sending'")
    before = [e for e in await fake.log() if e["arrived_at"] < stopping]
    abandoned = [e["id"] for e in before if not e["answered"]]
    await fake.control(latency=0.02)
    for _ in range(2):
        await cluster.start("worker")
    cleared = time.time()
    await harness.settled(pool, mailing["id"], harness.MESSAGES, within=harness.SETTLE)
    report = await check(
        "16 SIGTERM both workers under load",
        pool,
        await fake.log(),
        [Expect(mailing["id"])],
        api,
        started_at=began,
        cleared_at=cleared,
    )
    slowest = max(seconds for _, seconds in exits)
    report.notes = (
        f"exit codes {[code for code, _ in exits]} in <= {slowest:.1f} s (grace {GRACE:g} s); "
        f"left sending: {sending}; calls abandoned: {len(abandoned)}"
    )
    record(report)
    assert report.violations == []
    assert [code for code, _ in exits] == [0, 0]
    assert slowest <= GRACE
    assert sending == 0
    assert abandoned == []
    assert (report.lost, report.duplicates, report.late) == (0, 0, 0)


async def _sent_at_least(pool: asyncpg.Pool, mailing_id: int, n: int) -> bool:
    return await harness.count_status(pool, mailing_id, "sent") >= n


async def _overdue(pool: asyncpg.Pool, slack: float) -> int:
    """Rows still ``sending`` or ``queued`` more than ``slack`` seconds past their lease."""
    n: int = await pool.fetchval(
        "SELECT count(*) FROM messages WHERE status IN ('queued', 'sending') "
        "AND lease_until < now() - make_interval(secs => $1::float8)",
        slack,
    )
    return n


async def _fanning_out(pool: asyncpg.Pool, mailing_id: int, beyond: int) -> bool:
    """The fan-out has made more than ``beyond`` messages and is not done."""
    row = await pool.fetchrow(
        "SELECT fanout_done, (SELECT count(*) FROM messages WHERE mailing_id = $1) AS made "
        "FROM mailings WHERE id = $1",
        mailing_id,
    )
    return bool(row["made"] > beyond and not row["fanout_done"])


async def _in_flight_at_least(fake: harness.FakeProvider, n: int) -> bool:
    in_flight: int = (await fake.stats())["in_flight"]
    return in_flight >= n
