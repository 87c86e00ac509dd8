-- Small values every instance shares: the recipient-hash key.
CREATE TABLE meta (
    key text PRIMARY KEY,
    value bytea NOT NULL
);

-- The control state: one row. `generation` grows by one with every change;
-- instances apply a row whose generation is newer than theirs.
CREATE TABLE control (
    id smallint PRIMARY KEY CHECK (id = 1),
    generation bigint NOT NULL,
    active_plugin text,
    active_source text NOT NULL,
    active_since_ms bigint NOT NULL,
    fallback jsonb NOT NULL,
    fallback_source text NOT NULL,
    fallback_since_ms bigint NOT NULL,
    changed_by text NOT NULL
);

-- Live instances: each writes its row every heartbeat.
CREATE TABLE instances (
    id text PRIMARY KEY,
    name text NOT NULL,
    started_ms bigint NOT NULL,
    heartbeat_ms bigint NOT NULL,
    generation bigint NOT NULL,
    plugins jsonb NOT NULL
);
