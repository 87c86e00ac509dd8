-- Recent calls' answers, so a retry landing on any instance gets the first
-- call's answer. `key` is a keyed hash (HMAC) of the call's identity; the
-- call that inserted the row (`owner`, a random claim id) sends, and stores
-- its answer when it delivered (`done`) or deletes the row when it did not.
-- Rows older than the window may be taken over, and are swept.
CREATE TABLE idempotency (
    key bytea PRIMARY KEY,
    owner bigint NOT NULL,
    created_ms bigint NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'done')),
    status integer,
    headers jsonb,
    body bytea
);

CREATE INDEX idempotency_created ON idempotency (created_ms);
