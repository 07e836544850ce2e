"""Fixtures of the fault suite: a cluster of real processes per test, and the results table.

Every scenario hands its checker report to ``record``; the table of all of them is printed at
the end of the run (and written to ``$HERALD_FAULTS_REPORT`` when set).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from tests.faults import cluster as harness
from tests.faults.checker import Report

REPORTS: list[Report] = []
COLUMNS = (
    "scenario",
    "messages",
    "sent",
    "expired",
    "cancelled",
    "failed",
    "lost",
    "duplicates",
    "late",
    "ambiguous",
    "requests",
    "recovery_s",
    "settle_s",
)


def _order(report: Report) -> tuple[int, str]:
    number = report.scenario.split()[0]
    return int(number.rstrip("ab")), number


def table(reports: list[Report]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " | notes |", "|" + "---|" * (len(COLUMNS) + 1)]
    for report in sorted(reports, key=_order):
        cells = ["-" if (v := getattr(report, c)) is None else str(v) for c in COLUMNS]
        verdict = "; ".join(report.violations) or report.notes
        lines.append("| " + " | ".join(cells) + f" | {verdict} |")
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not REPORTS:
        return
    terminalreporter.section(f"fault scenarios ({harness.MESSAGES} messages each)")
    terminalreporter.write_line(table(REPORTS))
    target = os.environ.get("HERALD_FAULTS_REPORT")
    if target:
        Path(target).write_text(table(REPORTS) + "\n")


@pytest.fixture
def record() -> Callable[[Report], Report]:
    def add(report: Report) -> Report:
        REPORTS.append(report)
        return report

    return add


@pytest.fixture
async def fake(tmp_path: Path) -> AsyncIterator[harness.FakeProvider]:
    provider = await harness.FakeProvider.start(tmp_path / "fake-provider.log")
    yield provider
    # Kept beside the processes' logs, for reading a failure afterwards.
    (tmp_path / "fake-requests.json").write_text(json.dumps(await provider.log()))
    await provider.close()


@pytest.fixture
async def cluster(
    db_url: str, queue_name: str, tmp_path: Path, fake: harness.FakeProvider, pool: asyncpg.Pool
) -> AsyncIterator[harness.Cluster]:
    """Processes not started yet; the database has the audit trigger and the clients."""
    async with pool.acquire() as conn:
        await harness.install_audit(conn)
        await harness.seed_clients(conn, harness.MESSAGES, others=max(10, harness.MESSAGES // 20))
    procs = harness.Cluster(db_url, queue_name, tmp_path, fake.url)
    yield procs
    await procs.close()
