-- name: wake_schedulers
-- Schedulers LISTEN on this channel; sent inside the caller's transaction, it arrives at commit.
SELECT pg_notify('herald_wake', $1::text);

-- name: ping
SELECT 1;
