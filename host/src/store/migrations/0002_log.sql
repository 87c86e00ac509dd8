-- The delivery log: one row per send attempt, the same columns as the SQLite
-- log's `events` (deliverylog/schema.rs, deliverylog/row.rs) so one mapping
-- serves both stores. Types are what the writer's binary COPY sends
-- (row::PG_TYPES): text, bigint, double precision, boolean.
CREATE TABLE events (
    -- Insertion order: with time_ms it orders pages and makes cursors.
    seq                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                 text NOT NULL UNIQUE,
    time_ms            bigint NOT NULL,
    type               text NOT NULL,
    route              text NOT NULL,
    plugin             text NOT NULL,
    plugin_version     text NOT NULL,
    generation         bigint NOT NULL,
    action             text NOT NULL,
    language           text NOT NULL,
    recipient_mask     text NOT NULL,
    recipient_hash     text NOT NULL,
    client_id          text NOT NULL,
    user_id            text NOT NULL,
    ip                 text NOT NULL,
    vendor_message_id  text,
    vendor_status      text,
    latency_ms         double precision NOT NULL,
    vendor_latency_ms  double precision,
    text_chars         bigint NOT NULL,
    segments           bigint,
    error_code         text,
    error_message      text,
    error_retryable    boolean,
    error_source       text,
    vendor_code        text,
    vendor_http_status bigint,
    guard_rule         text,
    message_id         text
);

-- Newest-first pages walk (time_ms, seq) backwards, as do the per-minute
-- counts and retention's cut-off; the others serve the filters an admin uses
-- to answer "where is my code?".
CREATE INDEX events_time ON events (time_ms DESC, seq DESC);
CREATE INDEX events_type ON events (type, time_ms DESC);
CREATE INDEX events_user ON events (user_id, time_ms DESC);
CREATE INDEX events_client ON events (client_id, time_ms DESC);
CREATE INDEX events_recipient_hash ON events (recipient_hash, time_ms DESC);
CREATE INDEX events_recipient_mask ON events (recipient_mask, time_ms DESC);
CREATE INDEX events_message ON events (message_id) WHERE message_id IS NOT NULL;
