-- The guard's counters, shared by every instance: one row per counted key.
-- `key` is a keyed hash (HMAC with the shared recipient-hash key, first 8
-- bytes) of a number, or of a rule and its value (caller network, prefix,
-- country), so every instance finds the same row. A number's row also holds
-- its burst (sends, last_s, next_s); times are Unix seconds.
CREATE TABLE guard_counters (
    key bigint PRIMARY KEY,
    window_end_s bigint NOT NULL DEFAULT 0,
    count bigint NOT NULL DEFAULT 0,
    sends bigint NOT NULL DEFAULT 0,
    last_s bigint NOT NULL DEFAULT 0,
    next_s bigint NOT NULL DEFAULT 0
);

-- The sweep looks for rows whose window ended.
CREATE INDEX guard_counters_window_end ON guard_counters (window_end_s);

-- The safe-list entries added through the admin API (configured entries
-- live in each instance's configuration).
CREATE TABLE guard_safe_list (
    entry text PRIMARY KEY,
    note text NOT NULL,
    added_ms bigint NOT NULL
);
