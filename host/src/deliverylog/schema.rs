//! The database: connection settings, the tables, and migrations.
//!
//! Migrations are numbered by SQLite's `user_version`: migration `n` (1-based)
//! moves a database from version `n - 1` to `n`, in one transaction. A
//! database from a newer phonehook (a higher version than this build knows)
//! is refused rather than written into.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::LogError;

/// Each entry is one migration; append, never edit.
const MIGRATIONS: &[&str] = &[
    // 1: the events table and the secret key for recipient hashes.
    "CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE events (
        seq               INTEGER PRIMARY KEY,
        id                TEXT NOT NULL UNIQUE,
        time_ms           INTEGER NOT NULL,
        type              TEXT NOT NULL,
        route             TEXT NOT NULL,
        plugin            TEXT NOT NULL,
        plugin_version    TEXT NOT NULL,
        generation        INTEGER NOT NULL,
        action            TEXT NOT NULL,
        language          TEXT NOT NULL,
        recipient_mask    TEXT NOT NULL,
        recipient_hash    TEXT NOT NULL,
        client_id         TEXT NOT NULL,
        user_id           TEXT NOT NULL,
        ip                TEXT NOT NULL,
        vendor_message_id TEXT,
        vendor_status     TEXT,
        latency_ms        REAL NOT NULL,
        vendor_latency_ms REAL,
        text_chars        INTEGER NOT NULL,
        segments          INTEGER,
        error_code        TEXT,
        error_message     TEXT,
        error_retryable   INTEGER,
        error_source      TEXT,
        vendor_code       TEXT,
        vendor_http_status INTEGER
    );
    -- Newest-first pages walk (time_ms, seq) backwards; the per-field indexes
    -- serve the filters an admin uses to answer \"where is my code?\".
    CREATE INDEX events_time ON events (time_ms);
    CREATE INDEX events_user ON events (user_id, time_ms);
    CREATE INDEX events_client ON events (client_id, time_ms);
    CREATE INDEX events_recipient_hash ON events (recipient_hash, time_ms);
    CREATE INDEX events_recipient_mask ON events (recipient_mask, time_ms);",
    // 2: the active plugin chosen through the API, so that it survives a
    // restart (see `control`). One row at most.
    "CREATE TABLE active_swap (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        plugin     TEXT NOT NULL,
        configured TEXT,
        time_ms    INTEGER NOT NULL
    );",
    // 3: the abuse guard. Which rule refused a message; the safe list an
    // admin keeps through the API; numbers in backoff (by the same keyed
    // hash as `events.recipient_hash`, never the number), so that a restart
    // does not hand an attacker a fresh burst.
    "ALTER TABLE events ADD COLUMN guard_rule TEXT;
    CREATE TABLE guard_safe_list (
        entry    TEXT PRIMARY KEY,
        note     TEXT NOT NULL,
        added_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE guard_backoff (
        recipient_hash TEXT PRIMARY KEY,
        sends          INTEGER NOT NULL,
        last_ms        INTEGER NOT NULL,
        next_ms        INTEGER NOT NULL
    ) WITHOUT ROWID;",
    // 4: the message an attempt belongs to (the first attempt's event id),
    // so every attempt of a message that fell over is found together.
    "ALTER TABLE events ADD COLUMN message_id TEXT;
    CREATE INDEX events_message ON events (message_id) WHERE message_id IS NOT NULL;",
];

/// The schema version this build writes.
pub fn current_version() -> i64 {
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// How long a statement waits for another process's lock before giving up
/// (another server on the same file). Short: the writer drops the batch and
/// counts it rather than letting the queue back up.
const BUSY_TIMEOUT: Duration = Duration::from_millis(1000);

const HASH_KEY: &str = "recipient_hash_key";

/// Opens the database for writing: exclusive locking (no `-shm` file; see
/// [`super::connection`]), WAL (a batch is one append, not a rewrite of the
/// pages it touches), `synchronous = NORMAL` (in WAL mode this loses at most
/// the last transactions on power loss and never corrupts; right for a log),
/// then migrates.
pub fn open_rw(path: &Path) -> Result<Connection, LogError> {
    let db = |source| LogError::database(path, source);
    let mut conn = Connection::open(path).map_err(db)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
    exclusive(&conn, path)?;
    // SQLite quietly opens a file it may not write read-only; say so now
    // instead of failing on the first insert.
    if conn.is_readonly(rusqlite::MAIN_DB).map_err(db)? {
        return Err(LogError::ReadOnly(path.to_path_buf()));
    }
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(db)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(LogError::NotWal(path.to_path_buf()));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(db)?;
    migrate(&mut conn).map_err(|e| e.at(path))?;
    Ok(conn)
}

/// Opens the database for reading only, in the normal locking mode: SQLite
/// cannot take the exclusive lock through a read-only file handle. Only for
/// a file this process cannot open for writing (so it holds no connection of
/// its own to it; see [`super::connection`]) and for tools and tests once the
/// server is stopped.
pub fn open_ro(path: &Path) -> Result<Connection, LogError> {
    let db = |source| LogError::database(path, source);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(db)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
    let version = user_version(&conn).map_err(db)?;
    if version == 0 {
        return Err(LogError::NotInitialized(path.to_path_buf()));
    }
    if version > current_version() {
        return Err(LogError::SchemaTooNew {
            found: version,
            known: current_version(),
        });
    }
    Ok(conn)
}

/// Exclusive locking mode. It must be set before the connection first reads
/// the file: SQLite only keeps the WAL index in heap memory (and never
/// creates or maps `-shm`) when the first WAL access happens in this mode.
fn exclusive(conn: &Connection, path: &Path) -> Result<(), LogError> {
    let mode: String = conn
        .pragma_update_and_check(None, "locking_mode", "EXCLUSIVE", |row| row.get(0))
        .map_err(|e| LogError::database(path, e))?;
    if mode.eq_ignore_ascii_case("exclusive") {
        Ok(())
    } else {
        Err(LogError::NotExclusive(path.to_path_buf()))
    }
}

/// Brings the schema to [`current_version`].
pub fn migrate(conn: &mut Connection) -> Result<(), LogError> {
    let found = user_version(conn)?;
    let known = current_version();
    if found > known {
        return Err(LogError::SchemaTooNew { found, known });
    }
    for (version, sql) in (1..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

fn user_version(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// The key for recipient hashes stored in the database, if there is one.
pub fn stored_key(conn: &Connection) -> Result<Option<Vec<u8>>, LogError> {
    let hex_key: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            params![HASH_KEY],
            |row| row.get(0),
        )
        .optional()?;
    Ok(hex_key.and_then(|k| hex::decode(k).ok()))
}

/// The stored key, storing `candidate` first when there is none. Another
/// process may store its own key at the same moment; `INSERT OR IGNORE` and
/// reading back make both agree on the first one.
pub fn load_or_store_key(conn: &Connection, candidate: &[u8]) -> Result<Vec<u8>, LogError> {
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
        params![HASH_KEY, hex::encode(candidate)],
    )?;
    Ok(stored_key(conn)?.unwrap_or_else(|| candidate.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_in_wal_mode_and_migrates_once() -> Result<(), LogError> {
        let dir = tempfile::tempdir().map_err(LogError::Thread)?;
        let path = dir.path().join("log.db");
        let conn = open_rw(&path)?;
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
        assert_eq!(mode, "wal");
        assert_eq!(user_version(&conn)?, current_version());
        drop(conn);
        // A second open finds the schema in place and changes nothing.
        let conn = open_rw(&path)?;
        assert_eq!(user_version(&conn)?, current_version());
        Ok(())
    }

    #[test]
    fn refuses_a_database_from_a_newer_build() -> Result<(), LogError> {
        let dir = tempfile::tempdir().map_err(LogError::Thread)?;
        let path = dir.path().join("log.db");
        drop(open_rw(&path)?);
        Connection::open(&path)?.pragma_update(None, "user_version", current_version() + 1)?;
        assert!(matches!(open_rw(&path), Err(LogError::SchemaTooNew { .. })));
        assert!(matches!(open_ro(&path), Err(LogError::SchemaTooNew { .. })));
        Ok(())
    }

    #[test]
    fn the_first_stored_key_wins() -> Result<(), LogError> {
        let dir = tempfile::tempdir().map_err(LogError::Thread)?;
        let conn = open_rw(&dir.path().join("log.db"))?;
        assert_eq!(stored_key(&conn)?, None);
        assert_eq!(load_or_store_key(&conn, b"first")?, b"first");
        assert_eq!(load_or_store_key(&conn, b"second")?, b"first");
        Ok(())
    }
}
