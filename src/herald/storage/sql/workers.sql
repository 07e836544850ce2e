-- name: beat
-- One row per worker process, overwritten every beat.
INSERT INTO worker_heartbeats AS w
    (worker_id, breaker, breaker_reason, in_flight, calls, started_at, seen_at)
VALUES ($1::text, $2::text, $3::text, $4::int, $5::bigint, $6::timestamptz, now())
ON CONFLICT (worker_id) DO UPDATE SET
    breaker = excluded.breaker, breaker_reason = excluded.breaker_reason,
    in_flight = excluded.in_flight, calls = excluded.calls, seen_at = now();

-- name: forget
DELETE FROM worker_heartbeats WHERE worker_id = $1::text;

-- name: live
-- Workers heard from recently; older rows are of processes that died without saying so.
SELECT worker_id, breaker, breaker_reason, in_flight, calls, started_at, seen_at
FROM worker_heartbeats
WHERE seen_at > now() - make_interval(secs => $1::float8)
ORDER BY worker_id;
