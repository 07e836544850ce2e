-- name: counts_all
-- Every live mailing with its counts by status, from the trigger-kept counters.
SELECT g.id, g.text, g.status, g.start_at, g.end_at, c.status AS message_status, c.n
FROM mailings g LEFT JOIN message_counts c ON c.mailing_id = g.id AND c.n <> 0
WHERE g.deleted_at IS NULL
ORDER BY g.id DESC;

-- name: counts_one
SELECT status, n FROM message_counts WHERE mailing_id = $1::bigint AND n <> 0;

-- name: recount_one
-- The same numbers from the rows themselves (tests and the consistency check compare them).
SELECT status::text, count(*) FROM messages WHERE mailing_id = $1::bigint GROUP BY status;
