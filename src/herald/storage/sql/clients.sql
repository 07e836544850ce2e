-- name: create
-- One client; a live duplicate phone violates clients_phone_live (the API answers 409).
INSERT INTO clients (phone, operator_code, tag, timezone)
VALUES ($1::text, $2::text, $3::text, $4::text)
RETURNING id, phone, operator_code, tag, timezone, created_at, updated_at;

-- name: get
SELECT id, phone, operator_code, tag, timezone, created_at, updated_at
FROM clients WHERE id = $1::bigint AND deleted_at IS NULL;

-- name: update
-- A partial update: a NULL parameter keeps the column (no column of a client may be NULL).
UPDATE clients SET
    phone = coalesce($2::text, phone),
    operator_code = coalesce($3::text, operator_code),
    tag = coalesce($4::text, tag),
    timezone = coalesce($5::text, timezone),
    updated_at = now()
WHERE id = $1::bigint AND deleted_at IS NULL
RETURNING id, phone, operator_code, tag, timezone, created_at, updated_at;

-- name: delete
-- The row stays so that its messages, and the statistics, never change.
UPDATE clients SET deleted_at = now(), updated_at = now()
WHERE id = $1::bigint AND deleted_at IS NULL
RETURNING id;

-- name: list
-- Keyset paging by id; an empty filter parameter matches every client.
SELECT id, phone, operator_code, tag, timezone, created_at, updated_at
FROM clients
WHERE deleted_at IS NULL AND id > $1::bigint
  AND ($2::text IS NULL OR operator_code = $2::text)
  AND ($3::text IS NULL OR tag = $3::text)
  AND ($4::text IS NULL OR phone LIKE $4::text || '%')
ORDER BY id
LIMIT $5::int;

-- name: count_matching
-- How many live clients a mailing filter reaches (empty lists mean any).
SELECT count(*) FROM clients
WHERE deleted_at IS NULL
  AND filter_matches(operator_code, tag, $1::text[], $2::text[]);

-- name: import_stage
-- A session-local staging table that COPY fills; it vanishes at commit.
CREATE TEMP TABLE client_import (
    line bigint, phone text, operator_code text, tag text, timezone text
) ON COMMIT DROP;

-- name: import_work_mem
-- The merge's DISTINCT ON sorts the whole file: enough memory keeps a million lines off disk.
SET LOCAL work_mem = '64MB';

-- name: import_merge
-- Upserts the staged rows by live phone; the last line wins for a phone given twice.
WITH staged AS (
    SELECT DISTINCT ON (phone) phone, operator_code, tag, timezone
    FROM client_import ORDER BY phone, line DESC
), updated AS (
    UPDATE clients c SET operator_code = s.operator_code, tag = s.tag,
                         timezone = s.timezone, updated_at = now()
    FROM staged s
    WHERE c.phone = s.phone AND c.deleted_at IS NULL
    RETURNING c.phone
), inserted AS (
    INSERT INTO clients (phone, operator_code, tag, timezone)
    SELECT s.phone, s.operator_code, s.tag, s.timezone FROM staged s
    WHERE NOT EXISTS (SELECT 1 FROM clients c WHERE c.phone = s.phone AND c.deleted_at IS NULL)
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted) AS created, (SELECT count(*) FROM updated) AS updated;
