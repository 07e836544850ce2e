"""Scenarios 8-11: a provider that is down, slow, hanging, failing, limiting or lying."""

from __future__ import annotations

import asyncio
import collections
import itertools
import math
import statistics
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from tests.faults import cluster as harness
from tests.faults.checker import OUTSTANDING_SLACK, Expect, Report, check
from tests.faults.proxy import Mode, Proxy

CONCURRENCY = int(harness.ENV["HERALD_CONCURRENCY"])
COOLDOWN = float(harness.ENV["HERALD_BREAKER_COOLDOWN"])
THRESHOLD = int(harness.ENV["HERALD_BREAKER_THRESHOLD"])
POLL = 1.0  # HERALD_POLL_INTERVAL's default: one sweep of the schedulers' maintenance


@pytest.fixture
async def provider_proxy(fake: harness.FakeProvider) -> AsyncIterator[Proxy]:
    proxy = await Proxy("127.0.0.1", fake.port).start()
    yield proxy
    await proxy.stop()


def _paths(mailing_id: int | None = None) -> list[str]:
    paths = ["/api/v1/stats", "/api/v1/mailings?limit=20", "/readyz"]
    if mailing_id is not None:
        paths.append(f"/api/v1/mailings/{mailing_id}/stats?limit=100")
    return paths


async def test_8_provider_down_from_before_start_to_after_end(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    provider_proxy: Proxy,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    provider_proxy.set(Mode.CUT)
    cluster.provider_url = f"http://{provider_proxy.url_host}"
    workers, window = 2, 8.0
    api = await cluster.start_all(workers=workers)
    probe = harness.ApiProbe(api, _paths())
    states = []
    async with probe.running():
        began = time.time()
        mailing = await harness.create_mailing(api, end_in=window)
        end = time.monotonic() + window
        while time.monotonic() < end:
            states.append((await api.get("/api/v1/pipeline")).json()["provider"])
            await asyncio.sleep(0.5)
        await asyncio.sleep(POLL + 0.5)  # one sweep of expiry after end_at
        left = await harness.unsent(pool, mailing["id"])
    await harness.settled(pool, mailing["id"], harness.MESSAGES, within=30)
    report = await check(
        "8 provider down (refused) from before start to after end",
        pool,
        await fake.log(),
        [Expect(mailing["id"], frozenset({"expired"}))],
        api,
        started_at=began,
    )
    # Before the breaker opens: the calls already in flight, and those started before
    # ``threshold`` failures came back. After it: one probe per cool-down, which doubles.
    attempts = provider_proxy.accepted
    first = [t for t in attempts if t < attempts[0] + 1]
    probes = len(attempts) - len(first)
    burst_bound = workers * (CONCURRENCY + THRESHOLD)
    probes_bound = workers * (math.ceil(math.log2(window / COOLDOWN + 1)) + 1)
    answers = collections.Counter(status for _, status, _ in probe.samples)
    report.notes = (
        f"connection attempts: {len(first)} in the first second (bound {burst_bound}), then "
        f"{probes} probes in {window:g} s (bound {probes_bound}); "
        f"unsent {POLL + 0.5:g} s after end: {left}; API answers {dict(answers)}, "
        f"p99 {harness.p99(probe.samples) * 1000:.0f} ms; provider states {sorted(set(states))}"
    )
    record(report)
    assert report.violations == []
    assert report.expired == harness.MESSAGES
    assert left == 0
    assert len(first) <= burst_bound
    assert probes <= probes_bound
    assert "failing" in states
    assert set(answers) == {200}
    assert harness.p99(probe.samples) < 0.5
    assert sum(cluster.alive("worker")[i].log_lines("provider breaker open") for i in (0, 1)) >= 2


async def test_9_provider_slower_than_the_deadline_then_hanging(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    provider_proxy: Proxy,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    timeout = 1.0
    cluster.provider_url = f"http://{provider_proxy.url_host}"
    cluster.settings["HERALD_PROVIDER_TIMEOUT"] = str(timeout)
    await fake.control(latency=0.6, latency_spread=0.8)  # about half outlive the deadline
    api = await cluster.start_all(workers=2)
    workers = cluster.alive("worker")
    began = time.time()
    mailing = await harness.create_mailing(api, end_in=300)
    rss: list[tuple[float, float]] = []
    in_flight: list[int] = []

    async def sample() -> None:
        rss.append((time.monotonic(), sum(w.rss_mb() for w in workers)))
        rows = await pool.fetch("SELECT in_flight FROM worker_heartbeats")
        in_flight.extend(r["in_flight"] for r in rows)

    async with harness.sampling(0.25, sample, []):
        await asyncio.sleep(6)
        hang_from = time.monotonic()
        await fake.control(latency=0.0, latency_spread=0.0, hang=True)
        await asyncio.sleep(6)
        await fake.control(hang=False)
        provider_proxy.set(Mode.STALL)
        await asyncio.sleep(6)
        provider_proxy.set(Mode.PASS)
        await fake.control(latency=0.02)
    cleared = time.time()
    await harness.settled(pool, mailing["id"], harness.MESSAGES, within=harness.SETTLE)
    log = await fake.log()
    report = await check(
        f"9 provider slow (0.6-1.4 s), hanging, stalled; deadline {timeout:g} s",
        pool,
        log,
        [Expect(mailing["id"])],
        api,
        started_at=began,
        cleared_at=cleared,
    )
    longest = max(e["ended_at"] - e["arrived_at"] for e in log)
    peak = (await fake.stats())["max_in_flight"]
    # Memory of the warmed-up workers sending slowly, against the worst while hung or stalled.
    warm = statistics.median(m for t, m in rss if hang_from - 2 <= t < hang_from)
    grown = max(m for t, m in rss if t >= hang_from) - warm
    report.notes = (
        f"longest call {longest:.2f} s; provider in flight max {peak} (limit "
        f"{2 * CONCURRENCY}); worker in flight max {max(in_flight)}; worker RSS "
        f"{warm:.0f} MB -> max +{grown:.1f} MB"
    )
    record(report)
    assert report.violations == []
    assert longest <= timeout + OUTSTANDING_SLACK
    assert peak <= 2 * CONCURRENCY
    assert max(in_flight) <= CONCURRENCY
    assert grown < 20, "worker memory grew while the provider hung"
    assert (report.lost, report.late) == (0, 0)


async def test_10a_provider_5xx_for_a_minute_then_well(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    await fake.control(latency=0.1)
    api = await cluster.start_all(workers=2)
    began = time.time()
    mailing = await harness.create_mailing(api, end_in=600)
    probe = harness.ApiProbe(api, _paths(mailing["id"]))
    async with probe.running():
        await harness.until(lambda: _sent_at_least(pool, mailing["id"], 500), 30, "sending")
        base_from = time.time()
        await asyncio.sleep(8)
        fault_from = time.time()
        await fake.control(error_rate=1.0, error_status=500)
        await asyncio.sleep(60)
        await fake.control(error_rate=0.0)
        cleared = time.time()
        sent_during = await harness.count_status(pool, mailing["id"], "sent")
        await harness.settled(pool, mailing["id"], harness.MESSAGES, within=harness.SETTLE)
    report = await check(
        "10a provider 100 % HTTP 500 for 60 s, then well",
        pool,
        await fake.log(),
        [Expect(mailing["id"])],
        api,
        started_at=began,
        cleared_at=cleared,
    )
    baseline = harness.p99(probe.between(base_from, fault_from))
    during = harness.p99(probe.between(fault_from, cleared))
    errors = [s for s in probe.samples if s[1] >= 500 or s[1] == 0]
    report.notes = (
        f"API p99 {baseline * 1000:.1f} ms sending healthily, {during * 1000:.1f} ms during the "
        f"fault ({len(probe.between(fault_from, cleared))} requests); API 5xx: {len(errors)}; "
        f"unsent when the fault ended: {harness.MESSAGES - sent_during}"
    )
    record(report)
    assert report.violations == []
    assert errors == []
    assert during <= baseline * 1.2
    assert sent_during < harness.MESSAGES, "everything was sent before the fault"
    assert (report.lost, report.duplicates, report.late) == (0, 0, 0)


async def test_10b_provider_429_with_retry_after(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    retry_after = 2.0
    await fake.control(rate_limit_rate=0.5, retry_after=retry_after)
    api = await cluster.start_all(workers=2)
    began = time.time()
    mailing = await harness.create_mailing(api, end_in=300)
    await asyncio.sleep(5)
    await fake.control(rate_limit_rate=0.0)
    cleared = time.time()
    await harness.settled(pool, mailing["id"], harness.MESSAGES, within=harness.SETTLE)
    log = await fake.log()
    report = await check(
        f"10b provider answers 429 (Retry-After {retry_after:g} s) to half, for 5 s",
        pool,
        log,
        [Expect(mailing["id"])],
        api,
        started_at=began,
        cleared_at=cleared,
    )
    limited, early = _retry_after_kept(log, retry_after)
    report.notes = f"429 answers {limited}; retries sooner than Retry-After: {early}"
    record(report)
    assert report.violations == []
    assert limited > 0
    assert early == 0
    assert (report.lost, report.duplicates, report.late) == (0, 0, 0)


async def test_11_garbage_200_bodies_then_401(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    await fake.control(garbage_rate=1.0)
    api = await cluster.start_all(workers=2)
    began = time.time()
    mailing = await harness.create_mailing(api, end_in=300)
    await asyncio.sleep(4)
    sent_on_garbage = await harness.count_status(pool, mailing["id"], "sent")
    await fake.control(garbage_rate=0.0, unauthorized=True)
    await asyncio.sleep(4)
    failed_on_401 = await harness.count_status(pool, mailing["id"], "failed")
    await fake.control(unauthorized=False)
    cleared = time.time()
    await harness.settled(pool, mailing["id"], harness.MESSAGES, within=harness.SETTLE)
    log = await fake.log()
    report = await check(
        "11 garbage 200 bodies 4 s, then 401 for 4 s, then well",
        pool,
        log,
        [Expect(mailing["id"])],
        api,
        started_at=began,
        cleared_at=cleared,
    )
    answers = collections.Counter(e["answer"] for e in log)
    report.notes = (
        f"answers {dict(answers)}; sent during garbage: {sent_on_garbage}; "
        f"failed during 401: {failed_on_401}"
    )
    record(report)
    assert report.violations == []
    assert answers["garbage"] > 0
    assert answers["unauthorized"] > 0
    assert (sent_on_garbage, failed_on_401, report.failed) == (0, 0, 0)
    assert (report.lost, report.duplicates, report.late) == (0, 0, 0)


def _retry_after_kept(log: list[dict[str, Any]], retry_after: float) -> tuple[int, int]:
    """(429 answers, requests for the same message sooner than Retry-After after one)."""
    by_id: dict[int, list[dict[str, Any]]] = collections.defaultdict(list)
    for entry in log:
        by_id[entry["id"]].append(entry)
    limited = early = 0
    for entries in by_id.values():
        entries.sort(key=lambda e: e["arrived_at"])
        for first, then in itertools.pairwise(entries):
            if first["answer"] == "rate_limited":
                early += then["arrived_at"] - first["arrived_at"] < retry_after
        limited += sum(e["answer"] == "rate_limited" for e in entries)
    return limited, early


async def _sent_at_least(pool: asyncpg.Pool, mailing_id: int, n: int) -> bool:
    return await harness.count_status(pool, mailing_id, "sent") >= n
