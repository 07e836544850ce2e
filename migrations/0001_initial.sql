-- Herald's base schema: clients, mailings, messages, and the exact per-status counters.

CREATE TYPE mailing_status AS ENUM ('scheduled', 'running', 'paused', 'finished', 'cancelled');
CREATE TYPE message_status AS ENUM (
    'pending', 'queued', 'sending', 'sent', 'failed', 'expired', 'cancelled'
);

-- Deleting a client keeps its row (deleted_at) so that its messages, and so the statistics,
-- never change; its phone becomes free for a new client.
CREATE TABLE clients (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone         text        NOT NULL CHECK (phone ~ '^7[0-9]{10}$'),
    operator_code text        NOT NULL CHECK (operator_code ~ '^[0-9]{3}$'),
    tag           text        NOT NULL DEFAULT '' CHECK (char_length(tag) <= 64),
    timezone      text        NOT NULL DEFAULT 'UTC' CHECK (char_length(timezone) BETWEEN 1 AND 64),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz
);
CREATE UNIQUE INDEX clients_phone_live ON clients (phone) WHERE deleted_at IS NULL;
CREATE INDEX clients_operator_code ON clients (operator_code, id) WHERE deleted_at IS NULL;
CREATE INDEX clients_tag ON clients (tag, id) WHERE deleted_at IS NULL;

-- fanout_after is the fan-out checkpoint: the last client id already given a message.
CREATE TABLE mailings (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    text                  text           NOT NULL CHECK (char_length(text) BETWEEN 1 AND 4096),
    filter_operator_codes text[]         NOT NULL DEFAULT '{}',
    filter_tags           text[]         NOT NULL DEFAULT '{}',
    start_at              timestamptz    NOT NULL,
    end_at                timestamptz    NOT NULL,
    status                mailing_status NOT NULL DEFAULT 'scheduled',
    fanout_after          bigint         NOT NULL DEFAULT 0,
    fanout_done           boolean        NOT NULL DEFAULT false,
    created_at            timestamptz    NOT NULL DEFAULT now(),
    updated_at            timestamptz    NOT NULL DEFAULT now(),
    deleted_at            timestamptz,
    CONSTRAINT mailings_end_after_start CHECK (end_at > start_at)
);
CREATE INDEX mailings_active ON mailings (start_at)
    WHERE status IN ('scheduled', 'running', 'paused') AND deleted_at IS NULL;

-- A client matches a mailing's filter: an empty list means any, the two lists are ANDed.
-- A plain SQL function, so the planner inlines it.
CREATE FUNCTION filter_matches(operator_code text, tag text, codes text[], tags text[])
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (cardinality(codes) = 0 OR operator_code = ANY(codes))
       AND (cardinality(tags) = 0 OR tag = ANY(tags))
$$;

-- fillfactor below 100 leaves room for HOT updates: status changes three times per message.
CREATE TABLE messages (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mailing_id  bigint         NOT NULL REFERENCES mailings (id) ON DELETE RESTRICT,
    client_id   bigint         NOT NULL REFERENCES clients (id) ON DELETE RESTRICT,
    status      message_status NOT NULL DEFAULT 'pending',
    attempts    integer        NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    due_at      timestamptz    NOT NULL DEFAULT now(),
    lease_until timestamptz,
    created_at  timestamptz    NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    updated_at  timestamptz    NOT NULL DEFAULT now(),
    last_error  text,
    CONSTRAINT messages_one_per_client UNIQUE (mailing_id, client_id)
) WITH (fillfactor = 80);
CREATE INDEX messages_due ON messages (due_at) WHERE status = 'pending';
CREATE INDEX messages_leased ON messages (lease_until) WHERE status IN ('queued', 'sending');
-- A mailing's messages page by client id: without a status through the unique index above,
-- with one through this one, never by scanning other mailings' rows.
CREATE INDEX messages_by_mailing_status ON messages (mailing_id, status, client_id);
CREATE INDEX messages_by_client ON messages (client_id);

-- Exact counts by (mailing, status), kept by statement-level triggers in the same transaction
-- as every change to messages, so GET /stats never scans the messages table.
CREATE TABLE message_counts (
    mailing_id bigint         NOT NULL REFERENCES mailings (id) ON DELETE CASCADE,
    status     message_status NOT NULL,
    n          bigint         NOT NULL,
    PRIMARY KEY (mailing_id, status)
);


CREATE FUNCTION message_counts_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO message_counts AS c (mailing_id, status, n)
    SELECT mailing_id, status, count(*) FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (mailing_id, status) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END $$;

CREATE FUNCTION message_counts_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO message_counts AS c (mailing_id, status, n)
    SELECT mailing_id, status, sum(d) FROM (
        SELECT mailing_id, status, 1 AS d FROM new_rows
        UNION ALL
        SELECT mailing_id, status, -1 FROM old_rows
    ) AS changes
    GROUP BY 1, 2 HAVING sum(d) <> 0 ORDER BY 1, 2
    ON CONFLICT (mailing_id, status) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END $$;

CREATE FUNCTION message_counts_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE message_counts AS c SET n = c.n - d.n
    FROM (SELECT mailing_id, status, count(*) AS n FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2) AS d
    WHERE c.mailing_id = d.mailing_id AND c.status = d.status;
    RETURN NULL;
END $$;

CREATE TRIGGER message_counts_insert AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION message_counts_on_insert();
CREATE TRIGGER message_counts_update AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION message_counts_on_update();
CREATE TRIGGER message_counts_delete AFTER DELETE ON messages
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION message_counts_on_delete();
