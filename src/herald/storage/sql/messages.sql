-- name: fan_out_chunk
-- Gives the next chunk of matching clients (by id, after the checkpoint) one message each.
WITH chunk AS (
    SELECT c.id FROM clients c, mailings g
    WHERE g.id = $1::bigint AND c.id > $2::bigint AND c.deleted_at IS NULL
      AND filter_matches(c.operator_code, c.tag, g.filter_operator_codes, g.filter_tags)
    ORDER BY c.id
    LIMIT $3::int
), inserted AS (
    INSERT INTO messages (mailing_id, client_id)
    SELECT $1::bigint, id FROM chunk ORDER BY id
    ON CONFLICT (mailing_id, client_id) DO NOTHING
    RETURNING 1
)
SELECT (SELECT max(id) FROM chunk) AS last_id,
       (SELECT count(*) FROM chunk) AS matched,
       (SELECT count(*) FROM inserted) AS inserted;

-- The cancels below and expire_ended lock the rows they change in id order first, as a claim
-- does (the worker sorts a batch's ids): locked in scan order, a cancel and a claim each held a
-- row the other wanted, PostgreSQL took deadlock_timeout (1 s) to break every such cycle, and
-- meanwhile rows being sent outlived their lease. Set-based statements that never wait
-- (enqueue, rescue: SKIP LOCKED) and the write-back (rows being sent, which no cancel takes)
-- need no order.

-- name: cancel_unmatched
-- After a filter edit: the unsent messages of clients that no longer match are cancelled.
WITH doomed AS (
    SELECT m.id FROM messages m, mailings g, clients c
    WHERE m.mailing_id = $1::bigint AND g.id = m.mailing_id AND c.id = m.client_id
      AND m.status IN ('pending', 'queued')
      AND NOT filter_matches(c.operator_code, c.tag, g.filter_operator_codes, g.filter_tags)
    ORDER BY m.id
    FOR UPDATE OF m
)
UPDATE messages m SET status = 'cancelled', lease_until = NULL, updated_at = now()
WHERE m.id = ANY (ARRAY(SELECT id FROM doomed)) AND m.status IN ('pending', 'queued');

-- name: cancel_unmatched_for_client
-- After a client edit: its unsent messages of mailings it no longer matches are cancelled.
WITH doomed AS (
    SELECT m.id FROM messages m, mailings g, clients c
    WHERE m.client_id = $1::bigint AND g.id = m.mailing_id AND c.id = m.client_id
      AND m.status IN ('pending', 'queued')
      AND NOT filter_matches(c.operator_code, c.tag, g.filter_operator_codes, g.filter_tags)
    ORDER BY m.id
    FOR UPDATE OF m
)
UPDATE messages m SET status = 'cancelled', lease_until = NULL, updated_at = now()
WHERE m.id = ANY (ARRAY(SELECT id FROM doomed)) AND m.status IN ('pending', 'queued');

-- name: cancel_for_mailing
-- Messages being sent right now are settled by their write-back, which sees the cancel.
WITH doomed AS (
    SELECT id FROM messages
    WHERE mailing_id = $1::bigint AND status IN ('pending', 'queued')
    ORDER BY id
    FOR UPDATE
)
UPDATE messages SET status = 'cancelled', lease_until = NULL, updated_at = now()
WHERE id = ANY (ARRAY(SELECT id FROM doomed)) AND status IN ('pending', 'queued');

-- name: cancel_for_client
WITH doomed AS (
    SELECT id FROM messages
    WHERE client_id = $1::bigint AND status IN ('pending', 'queued')
    ORDER BY id
    FOR UPDATE
)
UPDATE messages SET status = 'cancelled', lease_until = NULL, updated_at = now()
WHERE id = ANY (ARRAY(SELECT id FROM doomed)) AND status IN ('pending', 'queued');

-- name: enqueue_due
-- Hands due messages of running mailings to the broker; the lease rescues a lost publish.
-- The rows are found again by "id = ANY (ARRAY(...))": joined to the CTE instead, the planner
-- merge-joined it with a walk of the primary key from its start, every row ever sent included
-- (0.6 s per 20,000 rows at 300,000 sent, growing with the mailing).
WITH due AS (
    SELECT m.id FROM messages m JOIN mailings g ON g.id = m.mailing_id
    WHERE m.status = 'pending' AND m.due_at <= now()
      AND g.status = 'running' AND g.end_at > now()
    ORDER BY m.due_at
    LIMIT $1::int
    FOR UPDATE OF m SKIP LOCKED
)
UPDATE messages m
SET status = 'queued', lease_until = now() + make_interval(secs => $2::float8), updated_at = now()
WHERE m.id = ANY (ARRAY(SELECT id FROM due))
RETURNING m.id;

-- name: unqueue
-- A publish the broker did not confirm: its rows go back to pending at once.
-- This and the worker's claim and write-back look rows up by id from unnest($1), and name the
-- status they expect as a sub-select: the planner cannot read its value, so statistics taken
-- before any row was queued (just after a fan-out) cannot make it scan every queued or sending
-- row of the mailing through a status index instead of the primary key. A worker plans these
-- once per session (storage.db.create_pool's generic_plans); a test checks both plans.
UPDATE messages m SET status = 'pending', lease_until = NULL, updated_at = now()
FROM unnest($1::bigint[]) AS u(id)
WHERE m.id = u.id AND m.status = (SELECT 'queued'::message_status);

-- name: queued_total
SELECT coalesce(sum(n), 0)::bigint FROM message_counts WHERE status = 'queued';

-- name: claim
-- Takes a batch for sending, by the database clock: only rows still queued, of a running
-- mailing before its end, for a live client. The others settle here too: a paused mailing's
-- go back to pending, an ended one's expire, a cancelled one's or a deleted client's cancel;
-- only the rows being sent keep a lease.
UPDATE messages m SET
    status = CASE
        WHEN now() >= g.end_at THEN 'expired'
        WHEN s.sending THEN 'sending'
        WHEN g.status IN ('paused', 'scheduled') AND c.deleted_at IS NULL THEN 'pending'
        ELSE 'cancelled' END::message_status,
    attempts = m.attempts + s.sending::int,
    lease_until = CASE WHEN s.sending THEN now() + make_interval(secs => $2::float8) END,
    updated_at = now()
FROM unnest($1::bigint[]) AS u(id), mailings g, clients c,
     LATERAL (SELECT g.status = 'running' AND now() < g.end_at AND c.deleted_at IS NULL) AS s(sending)
WHERE m.id = u.id AND m.status = (SELECT 'queued'::message_status)
  AND g.id = m.mailing_id AND c.id = m.client_id
RETURNING m.id, m.status, m.attempts, m.mailing_id, m.client_id, c.phone, g.text,
          extract(epoch FROM g.end_at - now())::float8 AS seconds_left;

-- name: write_back
-- Every outcome of a batch in one statement, fenced by the attempt number so that a late
-- writer (a worker that lost its lease) changes nothing. A retry that cannot happen before
-- the end expires; one for a cancelled mailing or a deleted client cancels.
UPDATE messages m SET
    status = CASE
        WHEN u.status <> 'pending' THEN u.status
        WHEN g.status NOT IN ('running', 'paused') OR c.deleted_at IS NOT NULL THEN 'cancelled'
        WHEN now() + make_interval(secs => u.delay) >= g.end_at THEN 'expired'
        ELSE 'pending' END::message_status,
    attempts = m.attempts - u.release::int,
    due_at = now() + make_interval(secs => u.delay),
    sent_at = CASE WHEN u.status = 'sent' THEN now() END,
    last_error = u.error,
    lease_until = NULL,
    updated_at = now()
FROM unnest($1::bigint[], $2::int[], $3::message_status[], $4::float8[], $5::boolean[], $6::text[])
         AS u(id, attempts, status, delay, release, error),
     mailings g, clients c
WHERE m.id = u.id AND m.status = (SELECT 'sending'::message_status) AND m.attempts = u.attempts
  AND g.id = m.mailing_id AND c.id = m.client_id
RETURNING m.id, m.status;

-- name: rescue_expired_leases
-- What a dead worker or a lost broker message left behind goes back to pending (or settles).
-- Rows found again by id as in enqueue_due.
WITH stale AS (
    SELECT id FROM messages
    WHERE status IN ('queued', 'sending') AND lease_until < now()
    ORDER BY lease_until
    LIMIT $1::int
    FOR UPDATE SKIP LOCKED
)
UPDATE messages m SET
    status = CASE
        WHEN now() >= g.end_at THEN 'expired'
        WHEN g.status NOT IN ('running', 'paused', 'scheduled') OR c.deleted_at IS NOT NULL
            THEN 'cancelled'
        WHEN m.attempts >= $2::int THEN 'failed'
        ELSE 'pending' END::message_status,
    last_error = CASE WHEN m.status = 'sending' THEN 'lease expired' ELSE m.last_error END,
    due_at = now(),
    lease_until = NULL,
    updated_at = now()
FROM mailings g, clients c
WHERE m.id = ANY (ARRAY(SELECT id FROM stale)) AND g.id = m.mailing_id AND c.id = m.client_id
RETURNING m.id, m.mailing_id, m.status;

-- name: expire_ended
-- At end_at every message not being sent expires; ones being sent settle by write-back or lease.
-- Rows locked in id order, as the cancels above say; it costs about 40 % more than a plain
-- UPDATE (10 s against 7 s for 700,000 rows), and saves a second per deadlock.
WITH doomed AS (
    SELECT m.id FROM messages m JOIN mailings g ON g.id = m.mailing_id
    WHERE g.status IN ('running', 'paused') AND g.end_at <= now() AND g.deleted_at IS NULL
      AND m.status IN ('pending', 'queued')
    ORDER BY m.id
    FOR UPDATE OF m
), expired AS (
    UPDATE messages m SET status = 'expired', lease_until = NULL, updated_at = now()
    WHERE m.id = ANY (ARRAY(SELECT id FROM doomed)) AND m.status IN ('pending', 'queued')
    RETURNING m.mailing_id
)
SELECT mailing_id, count(*) AS n FROM expired GROUP BY mailing_id;

-- name: list_for_mailing
-- One page of a mailing's messages with their phones, keyset by client id (the unique index).
SELECT m.id, m.mailing_id, m.client_id, c.phone, m.status, m.created_at, m.sent_at, m.attempts,
       m.last_error, m.updated_at
FROM messages m JOIN clients c ON c.id = m.client_id
WHERE m.mailing_id = $1::bigint AND m.client_id > $2::bigint
ORDER BY m.client_id
LIMIT $3::int;

-- name: list_for_mailing_status
-- The same, of one status (messages_by_mailing_status serves it).
SELECT m.id, m.mailing_id, m.client_id, c.phone, m.status, m.created_at, m.sent_at, m.attempts,
       m.last_error, m.updated_at
FROM messages m JOIN clients c ON c.id = m.client_id
WHERE m.mailing_id = $1::bigint AND m.status = $2::message_status AND m.client_id > $3::bigint
ORDER BY m.client_id
LIMIT $4::int;

-- name: analyze
-- After a large fan-out: until autovacuum gets to it (a minute or more), the planner believes
-- the new rows do not exist, and the enqueue sorted every pending row of the mailing to take
-- 5,000 of them (0.5 s a statement at 1,000,000 rows) instead of reading messages_due in order.
ANALYZE messages;

-- name: lock_briefly
-- For the rest of the transaction: a vacuum of the table holds the lock ANALYZE needs, and a
-- scheduler had better skip one refresh than stop its fan-out for the vacuum's length.
SELECT set_config('lock_timeout', '1s', true);
