"""Scenario 1: a healthy run, the yardstick for the others."""

from __future__ import annotations

import time
from collections.abc import Callable

import asyncpg

from tests.faults import cluster as harness
from tests.faults.checker import Expect, Report, check


async def test_1_healthy_baseline(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    api = await cluster.start_api()
    for part in ("scheduler", "scheduler", "worker", "worker"):
        await cluster.start(part)
    began = time.time()
    mailing = await harness.create_mailing(api, end_in=300)
    await harness.settled(pool, mailing["id"], harness.MESSAGES, within=harness.SETTLE)
    report = record(
        await check(
            "1 healthy baseline",
            pool,
            await fake.log(),
            [Expect(mailing["id"])],
            api,
            started_at=began,
        )
    )
    assert report.violations == []
    assert (report.lost, report.duplicates, report.late) == (0, 0, 0)
