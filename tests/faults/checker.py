"""The checker: what a fault run lost, duplicated or sent late, from the database and the
provider's log (the Jepsen way: record every effect, then judge the history as a whole).

Definitions used throughout the report:

- eligible: the live clients a mailing's filter matches; each must have exactly one message.
- accepted: a provider request answered ``200 {"code": 0}`` that the fake finished answering
  (``answered``); what the provider took.
- lost: an eligible client whose message is missing, not terminal, or ended in a status the
  scenario does not allow (``sent`` unless the scenario says otherwise).
- duplicates: accepted requests beyond the first for the same message.
- late: requests that arrived at or after their mailing's ``end_at``; outstanding: requests
  still open at the provider after ``end_at`` (beyond a scheduling slack).
- ambiguous: messages the provider accepted that Herald did not record ``sent``: a call cut by
  its deadline at the instant the fake answered; allowed only where the scenario says so.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Collection, Iterable
from typing import Any

import asyncpg
import httpx2

from herald.domain.statuses import TERMINAL, counts_from

# Seconds a request may stay open at the fake after the worker's deadline: the time for the
# worker to close the connection and the fake to notice, on a loaded two-core machine.
OUTSTANDING_SLACK = 0.25

# (old status, new status) -> allowed changes of attempts, derived from storage/sql/messages.sql.
LEGAL: dict[tuple[str | None, str], frozenset[int]] = {
    (None, "pending"): frozenset({0}),  # fan_out_chunk
    ("pending", "queued"): frozenset({0}),  # enqueue_due
    ("pending", "cancelled"): frozenset({0}),  # cancel_*
    ("pending", "expired"): frozenset({0}),  # expire_ended
    ("queued", "pending"): frozenset({0}),  # unqueue, claim (paused), rescue
    ("queued", "sending"): frozenset({1}),  # claim
    ("queued", "expired"): frozenset({0}),  # claim, rescue, expire_ended
    ("queued", "cancelled"): frozenset({0}),  # claim, rescue, cancel_*
    ("queued", "failed"): frozenset({0}),  # rescue past max_attempts
    ("sending", "sent"): frozenset({0, -1}),  # write_back (release gives the attempt back)
    ("sending", "failed"): frozenset({0, -1}),  # write_back, rescue
    ("sending", "pending"): frozenset({0, -1}),  # write_back, rescue
    ("sending", "expired"): frozenset({0, -1}),  # write_back, rescue
    ("sending", "cancelled"): frozenset({0, -1}),  # write_back, rescue
}


@dataclasses.dataclass
class Report:
    scenario: str
    messages: int = 0  # eligible clients over the mailings checked
    sent: int = 0
    expired: int = 0
    failed: int = 0
    cancelled: int = 0
    lost: int = 0
    duplicates: int = 0
    late: int = 0
    ambiguous: int = 0
    requests: int = 0
    recovery_s: float | None = None
    settle_s: float | None = None
    violations: list[str] = dataclasses.field(default_factory=list)
    notes: str = ""

    def fail(self, what: str) -> None:
        self.violations.append(what)


@dataclasses.dataclass(frozen=True)
class Expect:
    """What a scenario allows of one mailing."""

    mailing_id: int
    statuses: frozenset[str] = frozenset({"sent"})
    ambiguous: int = 0  # accepted but not recorded sent (calls cut at end_at)
    deleted: bool = False  # deleted mailings are absent from the statistics API


async def check(
    scenario: str,
    pool: asyncpg.Pool,
    log: list[dict[str, Any]],
    expects: Iterable[Expect],
    api: httpx2.AsyncClient | None,
    *,
    started_at: float | None = None,
    cleared_at: float | None = None,
) -> Report:
    """Judges the history of a run; every broken rule lands in ``report.violations``."""
    report = Report(scenario, requests=len(log))
    by_id = collections.defaultdict(list)
    for entry in log:
        by_id[entry["id"]].append(entry)
    async with pool.acquire() as conn:
        for expect in expects:
            await _check_mailing(conn, report, expect, by_id)
        await _check_transitions(conn, report)
    if api is not None:
        await _check_stats_api(pool, api, report, [e for e in expects if not e.deleted])
    accepted = [e for e in log if _accepted(e)]
    if cleared_at is not None:
        after = [e["arrived_at"] for e in accepted if e["arrived_at"] >= cleared_at]
        report.recovery_s = round(min(after) - cleared_at, 2) if after else None
    if started_at is not None:
        last = await pool.fetchval("SELECT extract(epoch FROM max(updated_at)) FROM messages")
        report.settle_s = round(float(last) - started_at, 1) if last is not None else None
    return report


def _accepted(entry: dict[str, Any]) -> bool:
    return bool(entry["answer"] == "ok" and entry["answered"])


async def _check_mailing(
    conn: asyncpg.Connection,
    report: Report,
    expect: Expect,
    by_id: dict[int, list[dict[str, Any]]],
) -> None:
    mid = expect.mailing_id
    mailing = await conn.fetchrow("SELECT end_at, deleted_at FROM mailings WHERE id = $1", mid)
    end = mailing["end_at"].timestamp()
    rows = await conn.fetch(
        "SELECT id, client_id, status::text FROM messages WHERE mailing_id = $1", mid
    )
    eligible = {
        r["id"]
        for r in await conn.fetch(
            "SELECT c.id FROM clients c, mailings g WHERE g.id = $1 AND c.deleted_at IS NULL "
            "AND filter_matches(c.operator_code, c.tag, g.filter_operator_codes, g.filter_tags)",
            mid,
        )
    }
    report.messages += len(eligible)
    counters = await conn.fetch(
        "SELECT status::text, n FROM message_counts WHERE mailing_id = $1 AND n <> 0", mid
    )
    recount = collections.Counter(r["status"] for r in rows)
    if counts_from((r["status"], r["n"]) for r in counters) != counts_from(recount.items()):
        report.fail(f"mailing {mid}: message_counts {counters} != recount {dict(recount)}")
    _one_per_client(report, mid, rows, eligible)
    status = {r["id"]: r["status"] for r in rows}
    for name in ("sent", "expired", "failed", "cancelled"):
        setattr(report, name, getattr(report, name) + sum(s == name for s in status.values()))
    wrong = [i for i, s in status.items() if s not in expect.statuses]
    report.lost += len(wrong) + len(eligible - {r["client_id"] for r in rows})
    stuck = [i for i, s in status.items() if s not in TERMINAL]
    if stuck:
        report.fail(f"mailing {mid}: {len(stuck)} messages not terminal, e.g. {stuck[:3]}")
    if wrong:
        found = collections.Counter(status[i] for i in wrong)
        report.fail(f"mailing {mid}: ended outside {sorted(expect.statuses)}: {dict(found)}")
    _check_requests(report, expect, status, by_id, end)


def _one_per_client(
    report: Report, mid: int, rows: list[asyncpg.Record], eligible: set[int]
) -> None:
    per_client = collections.Counter(r["client_id"] for r in rows)
    twice = [c for c, n in per_client.items() if n > 1]
    missing = eligible - set(per_client)
    strangers = set(per_client) - eligible
    if twice:
        report.fail(f"mailing {mid}: {len(twice)} clients with more than one message")
    if missing:
        report.fail(f"mailing {mid}: {len(missing)} eligible clients without a message")
    if strangers:
        report.fail(f"mailing {mid}: {len(strangers)} messages for clients it does not match")


def _check_requests(
    report: Report,
    expect: Expect,
    status: dict[int, str],
    by_id: dict[int, list[dict[str, Any]]],
    end: float,
) -> None:
    mine = {i: by_id.get(i, []) for i in status}
    entries = [e for es in mine.values() for e in es]
    late = [e for e in entries if e["arrived_at"] >= end]
    report.late += len(late)
    if late:
        report.fail(f"mailing {expect.mailing_id}: {len(late)} requests arrived at/after end_at")
    open_late = [e for e in entries if (e.get("ended_at") or end) > end + OUTSTANDING_SLACK]
    if open_late:
        worst = max(e["ended_at"] for e in open_late) - end
        report.fail(f"{len(open_late)} requests outstanding past end_at (by up to {worst:.2f} s)")
    accepted = {i: sum(map(_accepted, es)) for i, es in mine.items()}
    report.duplicates += sum(max(0, n - 1) for n in accepted.values())
    sent_unaccepted = [i for i, s in status.items() if s == "sent" and not accepted[i]]
    if sent_unaccepted:
        report.fail(f"{len(sent_unaccepted)} messages sent that the provider never accepted")
    ambiguous = [i for i, n in accepted.items() if n and status[i] != "sent"]
    report.ambiguous += len(ambiguous)
    if len(ambiguous) > expect.ambiguous:
        report.fail(
            f"{len(ambiguous)} messages accepted by the provider but not recorded sent "
            f"(allowed {expect.ambiguous})"
        )


async def _check_transitions(conn: asyncpg.Connection, report: Report) -> None:
    rows = await conn.fetch(
        "SELECT id, old_status::text, new_status::text, old_attempts, new_attempts "
        "FROM message_audit ORDER BY seq"
    )
    illegal: collections.Counter[str] = collections.Counter()
    completions: collections.Counter[int] = collections.Counter()
    for r in rows:
        old, new = r["old_status"], r["new_status"]
        delta = r["new_attempts"] - (r["old_attempts"] or 0)
        if delta not in LEGAL.get((old, new), frozenset()):
            illegal[f"{old}->{new} ({delta:+d})"] += 1
        if new in TERMINAL:
            completions[r["id"]] += 1
    if illegal:
        report.fail(f"illegal transitions: {dict(illegal)}")
    twice = [i for i, n in completions.items() if n > 1]
    if twice:
        report.fail(f"{len(twice)} messages completed more than once, e.g. {twice[:3]}")


async def _check_stats_api(
    pool: asyncpg.Pool, api: httpx2.AsyncClient, report: Report, expects: Collection[Expect]
) -> None:
    r = await api.get("/api/v1/stats")
    if r.status_code != 200:
        report.fail(f"GET /api/v1/stats answered {r.status_code}")
        return
    listed = {m["id"]: m["counts"] for m in r.json()["mailings"]}
    for expect in expects:
        rows = await pool.fetch(
            "SELECT status::text, count(*) FROM messages WHERE mailing_id = $1 GROUP BY 1",
            expect.mailing_id,
        )
        recount = counts_from((row["status"], row["count"]) for row in rows)
        if listed.get(expect.mailing_id) != recount:
            report.fail(f"statistics {listed.get(expect.mailing_id)} != recount {recount}")
        one = await api.get(f"/api/v1/mailings/{expect.mailing_id}/stats", params={"limit": 1})
        if one.status_code != 200 or one.json()["counts"] != recount:
            report.fail(f"mailing statistics {one.text[:200]} != recount {recount}")
