-- Each worker process reports its state every second, so the API (and the admin UI) can tell
-- whether the provider is healthy, failing or refused without asking the workers.
CREATE TABLE worker_heartbeats (
    worker_id      text        PRIMARY KEY,
    breaker        text        NOT NULL,
    breaker_reason text,
    in_flight      integer     NOT NULL,
    calls          bigint      NOT NULL,
    started_at     timestamptz NOT NULL,
    seen_at        timestamptz NOT NULL DEFAULT now()
);
