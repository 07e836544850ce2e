"""A model of the message lifecycle, checked against the real status-transition SQL.

Hypothesis drives the statements of ``storage/sql/messages.sql`` (fan-out, enqueue, unqueue,
claim, write-back, rescue, expiry, cancels) and the mailing and client changes around them in
random interleavings against a real PostgreSQL: claims that lose their lease at once, batches
delivered twice, late writers holding a stale attempt number, fan-out chunks replayed after a
crash. Before each step the model reads the rows, predicts what the statement must do from the
rules in design.md, and compares; after each step it checks the invariants: exact statistics,
only legal transitions (the audit trigger), terminal statuses never change, leases only on
rows in flight, one message per client and mailing.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from herald.domain.statuses import TERMINAL
from herald.storage import clients, mailings, messages
from tests.faults import cluster as harness
from tests.faults.checker import LEGAL

T = TypeVar("T")
CLIENTS = 4
MAILINGS = 2
FUTURE_LEASE, LOST_LEASE = 60.0, -1.0  # a lease still held, and one already over
LATE = 7200.0  # a retry delay that lands after every end_at (mailings end within the hour)

RESET = """
TRUNCATE message_audit, message_counts, messages, mailings, clients RESTART IDENTITY CASCADE;
INSERT INTO clients (phone, operator_code)
SELECT '7900000000' || i, '900' FROM generate_series(1, {clients}) i;
INSERT INTO mailings (text, start_at, end_at, status)
SELECT 'model', now() - interval '1 hour', now() + interval '1 hour', 'running'
FROM generate_series(1, {mailings});
"""

SNAPSHOT = """
SELECT m.id, m.mailing_id, m.client_id, m.status::text, m.attempts,
       m.due_at <= now() AS due, m.lease_until < now() AS lease_over,
       g.status::text AS mailing_status, g.end_at <= now() AS ended,
       g.deleted_at IS NOT NULL AS mailing_deleted, c.deleted_at IS NOT NULL AS client_deleted
FROM messages m JOIN mailings g ON g.id = m.mailing_id JOIN clients c ON c.id = m.client_id
"""


@dataclasses.dataclass(frozen=True)
class Row:
    id: int
    mailing_id: int
    client_id: int
    status: str
    attempts: int
    due: bool
    lease_over: bool | None
    mailing_status: str
    ended: bool
    mailing_deleted: bool
    client_deleted: bool

    @property
    def live_client(self) -> bool:
        return not self.client_deleted


def expect_claim(row: Row) -> tuple[str, int]:
    if row.ended:
        return "expired", row.attempts
    if row.mailing_status == "running" and row.live_client:
        return "sending", row.attempts + 1
    if row.mailing_status in ("paused", "scheduled") and row.live_client:
        return "pending", row.attempts
    return "cancelled", row.attempts


def expect_write(row: Row, status: str, delay: float, release: bool) -> tuple[str, int]:
    attempts = row.attempts - release
    if status != "pending":
        return status, attempts
    if row.mailing_status not in ("running", "paused") or row.client_deleted:
        return "cancelled", attempts
    if row.ended or delay >= LATE:
        return "expired", attempts
    return "pending", attempts


def expect_rescue(row: Row, max_attempts: int) -> str:
    if row.ended:
        return "expired"
    if row.mailing_status not in ("running", "paused", "scheduled") or row.client_deleted:
        return "cancelled"
    if row.attempts >= max_attempts:
        return "failed"
    return "pending"


class Lifecycle(RuleBasedStateMachine):
    """One Herald database; every rule is one statement the pipeline runs."""

    loop: asyncio.AbstractEventLoop
    conn: asyncpg.Connection

    def __init__(self) -> None:
        super().__init__()
        self.tokens: list[tuple[int, int]] = []  # (id, attempts) of every claim ever made
        self.last_batch: list[int] = []
        self.terminal: dict[int, str] = {}
        self.checkpoint = dict.fromkeys(range(1, MAILINGS + 1), 0)
        self.audit_seen = 0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def rows(self) -> dict[int, Row]:
        return {r["id"]: Row(**dict(r)) for r in self.run(self.conn.fetch(SNAPSHOT))}

    def changed(self, before: dict[int, Row]) -> dict[int, tuple[str, int]]:
        after = self.rows()
        return {
            i: (r.status, r.attempts)
            for i, r in after.items()
            if i not in before or (r.status, r.attempts) != (before[i].status, before[i].attempts)
        }

    @initialize()
    def reset(self) -> None:
        """Mailing 1 fully fanned out, mailing 2 half: the rest comes by the fan_out rule."""
        self.run(self.conn.execute(RESET.format(clients=CLIENTS, mailings=MAILINGS)))
        self.run(self._fan_out(1, CLIENTS + 1, replay=False))
        self.run(self._fan_out(2, CLIENTS // 2, replay=False))

    # --- the scheduler ---------------------------------------------------------------------

    @rule(mailing=st.integers(1, MAILINGS), chunk=st.integers(1, CLIENTS), replay=st.booleans())
    def fan_out(self, mailing: int, chunk: int, replay: bool) -> None:
        """One chunk; ``replay`` runs it from the start again, as after a crash before commit."""
        before = self.rows()
        have = {(r.mailing_id, r.client_id) for r in before.values()}
        made = self.run(self._fan_out(mailing, chunk, replay))
        if made is None:
            return
        after = self.rows()
        new = {(r.mailing_id, r.client_id) for r in after.values()} - have
        assert made == len(new), "fan-out reported what it did not insert"
        assert all(after[i].status == "pending" for i in after if i not in before)

    async def _fan_out(self, mailing: int, chunk: int, replay: bool) -> int | None:
        async with self.conn.transaction():
            cursor = await mailings.lock_fanout(self.conn, mailing)
            if cursor is None:
                return None
            after = 0 if replay else cursor.after
            result = await messages.fan_out_chunk(self.conn, mailing, after, chunk)
            last = max(cursor.after, result.last_id or 0)
            await mailings.save_fanout(self.conn, mailing, last, result.matched < chunk)
            return result.inserted

    @rule(limit=st.integers(1, 2 * CLIENTS), lease=st.sampled_from([FUTURE_LEASE, LOST_LEASE]))
    def enqueue(self, limit: int, lease: float) -> None:
        before = self.rows()
        due = {
            i
            for i, r in before.items()
            if r.status == "pending" and r.due and r.mailing_status == "running" and not r.ended
        }
        ids = self.run(messages.enqueue_due(self.conn, limit, lease))
        assert set(ids) <= due
        assert len(ids) == min(limit, len(due))
        assert self.changed(before) == {i: ("queued", before[i].attempts) for i in ids}

    @rule(ids=st.lists(st.integers(1, CLIENTS * MAILINGS), max_size=4))
    def unqueue(self, ids: list[int]) -> None:
        before = self.rows()
        self.run(messages.unqueue(self.conn, ids))
        want = {
            i: ("pending", before[i].attempts)
            for i in set(ids)
            if i in before and before[i].status == "queued"
        }
        assert self.changed(before) == want

    @rule(max_attempts=st.integers(1, 3))
    def rescue(self, max_attempts: int) -> None:
        before = self.rows()
        self.run(messages.rescue_expired_leases(self.conn, 100, max_attempts))
        want = {
            i: (expect_rescue(r, max_attempts), r.attempts)
            for i, r in before.items()
            if r.status in ("queued", "sending") and r.lease_over
        }
        assert self.changed(before) == want

    @rule()
    def expire(self) -> None:
        before = self.rows()
        self.run(messages.expire_ended(self.conn))
        want = {
            i: ("expired", r.attempts)
            for i, r in before.items()
            if r.status in ("pending", "queued")
            and r.ended
            and r.mailing_status in ("running", "paused")
            and not r.mailing_deleted
        }
        assert self.changed(before) == want

    @rule()
    def finish(self) -> None:
        self.run(mailings.finish_done(self.conn))

    # --- the workers -----------------------------------------------------------------------

    @rule(data=st.data(), lease=st.sampled_from([FUTURE_LEASE, LOST_LEASE]))
    def claim(self, data: st.DataObject, lease: float) -> None:
        """A batch of ids from the broker: mostly queued ones, sometimes anything."""
        queued = [i for i, r in self.rows().items() if r.status == "queued"]
        pool = st.sampled_from(queued) if queued else st.integers(1, CLIENTS * MAILINGS)
        ids = data.draw(st.lists(pool | st.integers(1, CLIENTS * MAILINGS), min_size=1, max_size=4))
        self._claim(ids, lease)
        self.last_batch = ids

    @rule(limit=st.integers(1, CLIENTS), lease=st.sampled_from([FUTURE_LEASE, LOST_LEASE]))
    def enqueue_and_claim(self, limit: int, lease: float) -> None:
        """The usual path: a scheduler publishes a batch and a worker takes it at once."""
        ids = self.run(messages.enqueue_due(self.conn, limit, FUTURE_LEASE))
        if ids:
            self._claim(ids, lease)
            self.last_batch = ids

    @precondition(lambda self: bool(self.last_batch))
    @rule()
    def deliver_again(self) -> None:
        """The broker hands the same batch out a second time."""
        self._claim(self.last_batch, FUTURE_LEASE)

    def _claim(self, ids: list[int], lease: float) -> None:
        before = self.rows()
        claimed = self.run(messages.claim(self.conn, ids, lease))
        want = {
            i: expect_claim(before[i])
            for i in set(ids)
            if i in before and before[i].status == "queued"
        }
        assert {c.id: (c.status, c.attempts) for c in claimed} == want
        assert self.changed(before) == want
        for c in claimed:
            if c.status == "sending":
                assert before[c.id].mailing_status == "running"
                assert not before[c.id].ended
                self.tokens.append((c.id, c.attempts))

    @precondition(lambda self: bool(self.tokens))
    @rule(
        data=st.data(),
        status=st.sampled_from(["sent", "failed", "pending"]),
        delay=st.sampled_from([0.0, LATE]),
        release=st.booleans(),
    )
    def write_back(self, data: st.DataObject, status: str, delay: float, release: bool) -> None:
        """A worker's outcome; an old token is a late writer whose lease was lost."""
        message_id, attempts = data.draw(
            st.sampled_from(self.tokens[-3:]) | st.sampled_from(self.tokens)
        )
        before = self.rows()
        row = before[message_id]
        outcome = messages.Outcome(message_id, attempts, status, delay, release, "model")
        written = self.run(messages.write_back(self.conn, [outcome]))
        fresh = row.status == "sending" and row.attempts == attempts
        want = {message_id: expect_write(row, status, delay, release)} if fresh else {}
        assert self.changed(before) == want, "the attempt fence let a late write through"
        assert written == {i: s for i, (s, _) in want.items()}

    # --- operators ---------------------------------------------------------------------------

    @rule(
        action=st.sampled_from(["pause", "resume", "end", "cancel", "delete", "delete client"]),
        which=st.integers(1, MAILINGS),
    )
    def operator(self, action: str, which: int) -> None:
        """One rule for all of them, so that they are rarer than the pipeline's steps."""
        if action in ("pause", "resume", "end"):
            self.run(self._change_mailing(which, action))
        elif action == "delete client":
            self.delete_client(which)
        else:
            self.cancel_mailing(which, delete=action == "delete")

    async def _change_mailing(self, mailing: int, action: str) -> None:
        current = await mailings.get(self.conn, mailing)
        if current is None:
            return
        if action == "pause" and current.status in ("scheduled", "running"):
            await mailings.set_status(self.conn, mailing, "paused")
        elif action == "resume" and current.status == "paused":
            await mailings.set_status(self.conn, mailing, "running")
        elif action == "end":  # its end_at comes (or is moved to the past)
            await self.conn.execute(
                "UPDATE mailings SET start_at = least(start_at, now() - interval '2 s'), "
                "end_at = now() - interval '1 s' WHERE id = $1",
                mailing,
            )

    def cancel_mailing(self, mailing: int, delete: bool) -> None:
        before = self.rows()
        self.run(self._cancel_mailing(mailing, delete))
        want = {
            i: ("cancelled", r.attempts)
            for i, r in before.items()
            if r.mailing_id == mailing
            and r.status in ("pending", "queued")
            and not r.mailing_deleted
            and (delete or r.mailing_status in ("scheduled", "running", "paused"))
        }
        assert self.changed(before) == want

    async def _cancel_mailing(self, mailing: int, delete: bool) -> None:
        async with self.conn.transaction():
            current = await mailings.get(self.conn, mailing, for_update=True)
            if current is None:
                return
            if delete:
                await mailings.delete(self.conn, mailing)
            elif current.status in ("scheduled", "running", "paused"):
                await mailings.set_status(self.conn, mailing, "cancelled")
            else:
                return
            await messages.cancel_for_mailing(self.conn, mailing)

    def delete_client(self, client: int) -> None:
        before = self.rows()
        self.run(self._delete_client(client))
        want = {
            i: ("cancelled", r.attempts)
            for i, r in before.items()
            if r.client_id == client and r.status in ("pending", "queued") and r.live_client
        }
        assert self.changed(before) == want

    async def _delete_client(self, client: int) -> None:
        async with self.conn.transaction():
            if await clients.delete(self.conn, client):
                await messages.cancel_for_client(self.conn, client)

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def statistics_are_exact(self) -> None:
        mismatch = self.run(
            self.conn.fetch(
                """
                SELECT mailing_id, status, n, recount FROM (
                    SELECT coalesce(c.mailing_id, r.mailing_id) AS mailing_id,
                           coalesce(c.status, r.status) AS status,
                           coalesce(c.n, 0) AS n, coalesce(r.recount, 0) AS recount
                    FROM message_counts c FULL JOIN (
                        SELECT mailing_id, status, count(*) AS recount FROM messages GROUP BY 1, 2
                    ) r ON r.mailing_id = c.mailing_id AND r.status = c.status
                ) x WHERE n <> recount
                """
            )
        )
        assert not mismatch, [dict(r) for r in mismatch]

    @invariant()
    def only_legal_transitions(self) -> None:
        rows = self.run(
            self.conn.fetch(
                "SELECT seq, old_status::text, new_status::text, old_attempts, new_attempts "
                "FROM message_audit WHERE seq > $1 ORDER BY seq",
                self.audit_seen,
            )
        )
        for r in rows:
            delta = r["new_attempts"] - (r["old_attempts"] or 0)
            pair = (r["old_status"], r["new_status"])
            assert delta in LEGAL.get(pair, frozenset()), f"illegal {pair} {delta:+d}"
            self.audit_seen = r["seq"]

    @invariant()
    def terminal_is_final_and_leases_match(self) -> None:
        for row in self.run(
            self.conn.fetch(
                "SELECT id, status::text, lease_until IS NOT NULL AS leased, "
                "sent_at IS NOT NULL AS has_sent_at FROM messages"
            )
        ):
            status, seen = row["status"], self.terminal.get(row["id"])
            assert seen in (None, status), f"message {row['id']} left {seen} for {status}"
            if status in TERMINAL:
                self.terminal[row["id"]] = status
            assert row["leased"] == (status in ("queued", "sending")), dict(row)
            assert row["has_sent_at"] == (status == "sent"), dict(row)

    @invariant()
    def one_message_per_client_and_mailing(self) -> None:
        twice = self.run(
            self.conn.fetchval(
                "SELECT count(*) FROM (SELECT 1 FROM messages GROUP BY mailing_id, client_id "
                "HAVING count(*) > 1) d"
            )
        )
        assert twice == 0


def test_message_lifecycle_model(db_url: str) -> None:
    loop = asyncio.new_event_loop()
    try:
        conn = loop.run_until_complete(asyncpg.connect(db_url))
        try:
            loop.run_until_complete(harness.install_audit(conn))
            Lifecycle.loop, Lifecycle.conn = loop, conn
            run_state_machine_as_test(
                Lifecycle,
                settings=settings(
                    max_examples=150,
                    stateful_step_count=50,
                    deadline=None,
                    database=None,
                    suppress_health_check=[HealthCheck.too_slow],
                ),
            )
        finally:
            loop.run_until_complete(conn.close())
    finally:
        loop.close()
