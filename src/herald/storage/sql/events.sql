-- name: wake_schedulers
-- Schedulers LISTEN on this channel; sent inside the caller's transaction, it arrives at commit.
SELECT pg_notify('herald_wake', $1::text);

-- name: ping
SELECT 1;

-- name: end_moved
-- Workers LISTEN on this channel to cut short the calls under way: "<mailing id> <seconds left>",
-- the seconds by the database clock, so that no worker's clock matters.
SELECT pg_notify('herald_end', $1::bigint || ' ' || extract(epoch FROM $2::timestamptz - now()));
