-- name: create
INSERT INTO mailings (text, filter_operator_codes, filter_tags, start_at, end_at)
VALUES ($1::text, $2::text[], $3::text[], $4::timestamptz, $5::timestamptz)
RETURNING id, text, filter_operator_codes, filter_tags, start_at, end_at, status,
          created_at, updated_at;

-- name: get
SELECT id, text, filter_operator_codes, filter_tags, start_at, end_at, status,
       created_at, updated_at
FROM mailings WHERE id = $1::bigint AND deleted_at IS NULL;

-- name: get_for_update
-- Serialises edits and lifecycle changes of one mailing. NO KEY UPDATE: the counters' foreign
-- key takes KEY SHARE on the mailing in every status change, which FOR UPDATE would block.
SELECT id, text, filter_operator_codes, filter_tags, start_at, end_at, status,
       created_at, updated_at
FROM mailings WHERE id = $1::bigint AND deleted_at IS NULL
FOR NO KEY UPDATE;

-- name: update
-- A partial update; a changed filter restarts the fan-out, which only adds what is missing.
UPDATE mailings SET
    text = coalesce($2::text, text),
    filter_operator_codes = coalesce($3::text[], filter_operator_codes),
    filter_tags = coalesce($4::text[], filter_tags),
    start_at = coalesce($5::timestamptz, start_at),
    end_at = coalesce($6::timestamptz, end_at),
    fanout_after = CASE WHEN $3::text[] IS NULL AND $4::text[] IS NULL THEN fanout_after ELSE 0 END,
    fanout_done = fanout_done AND $3::text[] IS NULL AND $4::text[] IS NULL,
    updated_at = now()
WHERE id = $1::bigint AND deleted_at IS NULL
RETURNING id, text, filter_operator_codes, filter_tags, start_at, end_at, status,
          created_at, updated_at;

-- name: set_status
UPDATE mailings SET status = $2::mailing_status, updated_at = now()
WHERE id = $1::bigint AND deleted_at IS NULL
RETURNING id, text, filter_operator_codes, filter_tags, start_at, end_at, status,
          created_at, updated_at;

-- name: delete
UPDATE mailings SET deleted_at = now(), status = 'cancelled', updated_at = now()
WHERE id = $1::bigint AND deleted_at IS NULL
RETURNING id;

-- name: list
-- Keyset paging by id, newest first; a NULL status lists every status.
SELECT id, text, filter_operator_codes, filter_tags, start_at, end_at, status,
       created_at, updated_at
FROM mailings
WHERE deleted_at IS NULL AND id < $1::bigint
  AND ($2::mailing_status IS NULL OR status = $2::mailing_status)
ORDER BY id DESC
LIMIT $3::int;

-- name: start_due
-- Starts every scheduled mailing whose start has come; idempotent across schedulers.
UPDATE mailings SET status = 'running', updated_at = now()
WHERE status = 'scheduled' AND deleted_at IS NULL AND start_at <= now()
RETURNING id;

-- name: lock_fanout
-- One scheduler fans out a mailing at a time; the others skip it. A mailing paused before its
-- start is not fanned out yet: its recipients are those of its start. NO KEY UPDATE, or the
-- enqueue's counter upsert (KEY SHARE through the foreign key) and the chunk's would deadlock.
SELECT id, fanout_after FROM mailings
WHERE id = $1::bigint AND status IN ('running', 'paused') AND NOT fanout_done
  AND start_at <= now()
FOR NO KEY UPDATE SKIP LOCKED;

-- name: fanout_pending
-- Mailings whose fan-out has not finished (after a crash, a filter edit or a fresh start).
SELECT id FROM mailings
WHERE status IN ('running', 'paused') AND NOT fanout_done AND deleted_at IS NULL
  AND start_at <= now()
ORDER BY id;

-- name: save_fanout
UPDATE mailings SET fanout_after = $2::bigint, fanout_done = $3::boolean WHERE id = $1::bigint;

-- name: finish_done
-- A mailing is finished once its fan-out is complete and no message of it is left unsent.
UPDATE mailings g SET status = 'finished', updated_at = now()
WHERE g.status IN ('running', 'paused') AND g.fanout_done
  AND (g.end_at <= now() OR g.status = 'running')
  AND NOT EXISTS (
      SELECT 1 FROM message_counts c
      WHERE c.mailing_id = g.id AND c.status IN ('pending', 'queued', 'sending') AND c.n > 0
  )
RETURNING g.id;

-- name: next_start
-- Seconds until the next scheduled start, so the scheduler wakes on time.
SELECT extract(epoch FROM min(start_at) - now())::float8 FROM mailings
WHERE status = 'scheduled' AND deleted_at IS NULL;

-- name: next_end
-- Seconds until the next end_at of a mailing still sending, so expiry runs on time.
SELECT extract(epoch FROM min(end_at) - now())::float8 FROM mailings
WHERE status IN ('running', 'paused') AND end_at > now() AND deleted_at IS NULL;

-- name: seconds_left
-- The end of each mailing, as seconds from now by the database clock (a worker catching up on
-- the end-moved notices it missed).
SELECT id, extract(epoch FROM end_at - now())::float8 AS seconds_left FROM mailings
WHERE id = ANY($1::bigint[]);
