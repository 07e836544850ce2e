"""Scenarios 12, 13: more to send than time allows, and a mailing cut short while it sends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from tests.faults import cluster as harness
from tests.faults.checker import Expect, Report, check

POLL = 1.0  # HERALD_POLL_INTERVAL's default, allowed as slack for a loaded two-core machine
# The schedulers sweep at end_at itself (0.28 s after it here at 10,000 rows): the expiring
# UPDATE of every unsent row, about 1.5 s per 100,000 rows with the counting trigger.
SWEEP = 0.5 + 2.0 * harness.MESSAGES / 100_000


async def test_12_backlog_far_beyond_what_fits_before_end_at(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    concurrency, workers, window = 10, 2, 6.0
    cluster.settings["HERALD_CONCURRENCY"] = str(concurrency)
    await fake.control(latency=0.5)  # at most 40 sends/s: about 2 % of the backlog fits
    api = await cluster.start_all(workers=workers)
    began = time.time()
    mailing = await harness.create_mailing(api, end_in=window)
    end = datetime.fromisoformat(mailing["end_at"]).timestamp()
    await asyncio.sleep(end - time.time())
    while await harness.unsent(pool, mailing["id"]):
        assert time.time() < end + 30, "unsent messages 30 s after end_at"
        await asyncio.sleep(0.05)
    done_after = time.time() - end
    in_flight = workers * concurrency
    report = await check(
        f"12 backlog: {window:g} s window for ~{int(window * 40)} sends",
        pool,
        await fake.log(),
        [Expect(mailing["id"], frozenset({"sent", "expired"}), ambiguous=in_flight)],
        api,
        started_at=began,
    )
    report.notes = (
        f"all settled {done_after:.2f} s after end_at (allowed {POLL + SWEEP:.1f}); "
        f"ambiguous bound {in_flight} "
        f"(calls in flight at end_at)"
    )
    record(report)
    assert report.violations == []
    assert done_after <= POLL + SWEEP
    assert report.expired > harness.MESSAGES * 0.9
    assert (report.lost, report.duplicates, report.late) == (0, 0, 0)


async def test_13_end_moved_earlier_and_a_mailing_deleted_while_sending(
    cluster: harness.Cluster,
    fake: harness.FakeProvider,
    pool: asyncpg.Pool,
    record: Callable[[Report], Report],
) -> None:
    concurrency, workers = int(harness.ENV["HERALD_CONCURRENCY"]), 2
    await fake.control(latency=0.05)
    api = await cluster.start_all(workers=workers)
    began = time.time()
    moved = await harness.create_mailing(api, end_in=300, text="moved")
    deleted = await harness.create_mailing(api, end_in=300, text="deleted")
    await harness.until(lambda: _sent_at_least(pool, moved["id"], 1000), 60, "sending")
    new_end = datetime.now(UTC) + timedelta(seconds=1)
    r = await api.patch(f"/api/v1/mailings/{moved['id']}", json={"end_at": new_end.isoformat()})
    assert r.status_code == 200, r.text
    await harness.until(lambda: _sent_at_least(pool, deleted["id"], 1000), 60, "sending")
    assert (await api.delete(f"/api/v1/mailings/{deleted['id']}")).status_code == 204
    deleted_at = time.time()
    await harness.settled(pool, moved["id"], harness.MESSAGES, within=30)
    await harness.settled(pool, deleted["id"], harness.MESSAGES, within=30)
    log = await fake.log()
    in_flight = workers * concurrency
    report = await check(
        "13 end_at moved 1 s ahead / mailing deleted, mid-mailing",
        pool,
        log,
        [
            Expect(moved["id"], frozenset({"sent", "expired"}), ambiguous=in_flight),
            Expect(deleted["id"], frozenset({"sent", "cancelled"}), deleted=True),
        ],
        api,
        started_at=began,
    )
    after_delete = [e for e in log if e["text"] == "deleted" and e["arrived_at"] >= deleted_at]
    report.notes = (
        f"requests after the delete: {len(after_delete)} (bound {in_flight}, the calls in "
        f"flight); after the new end: {report.late}"
    )
    record(report)
    assert report.violations == []
    assert len(after_delete) <= in_flight
    assert not [e for e in after_delete if e["arrived_at"] >= deleted_at + 1]
    assert (report.lost, report.duplicates, report.late) == (0, 0, 0)


async def _sent_at_least(pool: asyncpg.Pool, mailing_id: int, n: int) -> bool:
    return await harness.count_status(pool, mailing_id, "sent") >= n
