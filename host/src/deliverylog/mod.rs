//! The delivery log: one event per send attempt, so an admin whose user
//! says "I never got the code" can find out why (`GET /api/v1/logs`,
//! `phonehook logs`).
//!
//! # Where events are stored
//!
//! - `store = "sqlite"` (the default): an embedded SQLite file at
//!   `log.path`, written by one process ([`DeliveryLog::open`]).
//! - `store = "postgres://…"`: the `events` table of the PostgreSQL
//!   database every instance shares (created by the store's migration
//!   `0002_log.sql`; [`DeliveryLog::open_postgres`], module [`postgres`]).
//!   `log.path` is ignored; every instance writes into and reads from the
//!   one table, so `GET /api/v1/logs` on any instance shows the whole
//!   fleet's attempts.
//!
//! Both keep the same columns and answer the same queries the same way: the
//! event model ([`event`]), the column mapping ([`row`]), the filters and
//! cursors ([`query`]), the per-minute counts ([`rate`]) and retention are
//! written once; only the queue, the writer and the statement dialect differ
//! ([`sql`] renumbers parameters for PostgreSQL).
//!
//! - [`event`]: the [`Event`] (Auth0's `gd_send_sms`, `gd_send_sms_failure`,
//!   `gd_send_voice`, `gd_send_voice_failure`) and the [`Pending`] builder the
//!   send path fills in.
//! - [`writer`]: the bounded queue and the thread that writes batches
//!   (SQLite); [`postgres`]: the queue, the task that `COPY`s batches, and
//!   the reads (PostgreSQL).
//! - [`connection`]: the one connection the writer, queries and
//!   [`DeliveryLog::with_connection`] share (why one: exclusive locking).
//! - [`row`]: the `events` row both ways (columns, insert, read), for both
//!   stores; [`sql`]: the value type both drivers bind.
//! - [`query`]: filters, newest-first pages, cursors.
//! - [`rate`]: attempts per minute by outcome (the console's chart).
//! - [`schema`], [`retention`]: tables and migrations; deleting old events.
//! - [`control`]: the active plugin chosen through the API, kept in the same
//!   database so that it survives a restart.
//!
//! The log is storage: it imports nothing from the send path (`delivery`,
//! `egress`). The send path hands it plain values — a [`Failure`] built
//! from its own error, a vendor message id — and it keeps them.
//!
//! # What is stored, and what never is
//!
//! Stored: the event id, time, type, plugin name/version/generation, action,
//! language, the recipient **masked** (country code and last two digits),
//! a keyed hash of the recipient, client id, user id, caller IP, the vendor's
//! message id and status, host and vendor latency, the text's length and SMS
//! segment count, and for failures `{code, message, retryable}` plus the
//! vendor's code and HTTP status.
//!
//! Never stored: the one-time code, the message text, the full number,
//! secrets, or the vendor's raw reply. [`Event`] has no field for any of them;
//! free-text failure messages are redacted of the code, the number (E.164,
//! digits only, national, as written), the text and the plugin's secrets,
//! each in every encoding ([`crate::redact`]), before they become part of an
//! event.
//!
//! # Searching by recipient
//!
//! `recipient=` accepts either a mask exactly as the log shows it
//! (`+1********23`, matching every number with that country code and ending)
//! or a full number in any form the API accepts, which is normalized to E.164
//! and matched against `HMAC-SHA256(key, e164)`. The key is
//! `log.recipient_hash_key` from the configuration when set; otherwise a
//! random 32-byte key generated on first use and kept in the database's
//! `meta` table (SQLite's file, or with PostgreSQL the shared database's
//! `meta` table, so that every instance hashes alike). **Choose a configured key when the database file may leave
//! the host:** a number has few enough unknown digits that anyone holding
//! the file *and* the key can recover it by trying every candidate, so a key
//! kept only in the file stops casual reading, not a determined reader. A
//! configured key is never written to the file; changing it makes older
//! events unsearchable by full number (the mask still finds them).
//!
//! # Failure behaviour
//!
//! Recording never blocks or fails a send, whichever the store.
//!
//! ## On SQLite
//!
//! When the database cannot be
//! written (locked, read-only, disk full) the batch is dropped, counted in
//! [`Stats`] and `phonehook_log_events_dropped_total`, logged at most once a
//! minute, and the next batch tries again on a fresh connection. A file that
//! becomes unwritable while the server runs (made immutable, a full or
//! vanished filesystem) is the same case: there is no memory-mapped `-shm`
//! file whose failure could take the process down (see [`connection`]).
//! [`DeliveryLog::close`] writes everything accepted before it returns, then
//! releases the file.
//!
//! While the server runs, the database is locked to it: other processes
//! (`sqlite3`, a backup script, a second server on the same `log.path`)
//! cannot open it. Read it through `GET /api/v1/logs` or `phonehook logs`,
//! or stop the server first.
//!
//! ## On PostgreSQL
//!
//! The queue is a bounded channel; a full queue drops and counts
//! (`queue_full`). Each batch is one `COPY`, given at most [`postgres::WRITE_LIMIT`] (pool wait
//! included). When the database is down, unreachable or too slow the batch
//! is dropped and counted (`write_failed`), the store is marked degraded
//! ([`crate::store::Health`], `/healthz`), a warning is logged at most once
//! a minute, and the next batch tries again — nothing is retried or kept
//! back, so a long outage loses the events of that outage and nothing
//! else. Queries fail with [`LogError::Store`] while the database is away.
//! [`DeliveryLog::close`] writes everything accepted before it returns (or
//! drops and counts what the database refuses). [`DeliveryLog::with_connection`]
//! is SQLite's alone ([`LogError::NotSqlite`]).

pub mod connection;
pub mod control;
pub mod event;
pub mod guard_state;
pub mod postgres;
pub mod query;
pub mod rate;
pub mod retention;
pub mod row;
pub mod schema;
pub mod sql;
pub mod time;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use phonehook_plugin_api::Message;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::store::{Postgres, StoreError};

pub use event::{Event, EventType, Failure, FailureSource, Pending, RecipientHasher};
pub use query::{Filter, Page, Query, QueryError, RecipientFilter, DEFAULT_LIMIT, MAX_LIMIT};
pub use rate::Minute;
pub use writer::Stats;

/// `[log]` in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Whether send attempts are recorded.
    pub enabled: bool,
    /// The SQLite database file (created if missing; a `-wal` file appears
    /// next to it while the server runs). Ignored with `store =
    /// "postgres://…"`: the events go to the shared database.
    pub path: PathBuf,
    /// Events older than this many days are deleted (0 keeps everything).
    pub retention_days: u32,
    /// Events waiting to be written; beyond this they are dropped and counted.
    pub queue_capacity: usize,
    /// Most events written per transaction.
    pub batch_size: usize,
    /// Longest an event waits before its batch is written, in milliseconds.
    pub flush_interval_ms: u64,
    /// Key for the recipient hash; when absent a random key is kept in the
    /// database (see the module docs for the trade-off).
    pub recipient_hash_key: Option<String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            enabled: true,
            path: PathBuf::from("phonehook-log.db"),
            retention_days: 30,
            queue_capacity: 10_000,
            batch_size: 256,
            flush_interval_ms: 200,
            recipient_hash_key: None,
        }
    }
}

impl LogConfig {
    /// Checks the values that cannot work.
    pub fn validate(&self) -> Result<(), LogError> {
        self.check(true)
    }

    /// [`LogConfig::validate`], with `log.path` only checked when the log
    /// is a file (`sqlite`).
    fn check(&self, sqlite: bool) -> Result<(), LogError> {
        let problem = if self.queue_capacity == 0 {
            "log.queue_capacity must be at least 1"
        } else if self.batch_size == 0 {
            "log.batch_size must be at least 1"
        } else if self.flush_interval_ms == 0 {
            "log.flush_interval_ms must be at least 1"
        } else if sqlite && self.enabled && self.path.as_os_str().is_empty() {
            "log.path must name a file"
        } else if self
            .recipient_hash_key
            .as_deref()
            .is_some_and(|k| k.len() < 16)
        {
            "log.recipient_hash_key must be at least 16 characters"
        } else {
            return Ok(());
        };
        Err(LogError::Config(problem.to_owned()))
    }
}

/// Why the log could not do something.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The configuration cannot work.
    #[error("invalid delivery log configuration: {0}")]
    Config(String),
    /// The database file could not be opened or used.
    #[error("delivery log database {}: {source}", path.display())]
    Database {
        /// The file.
        path: PathBuf,
        /// SQLite's reason.
        source: rusqlite::Error,
    },
    /// A statement failed.
    #[error("delivery log database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file (or its directory) cannot be written.
    #[error("delivery log database {} is read-only", .0.display())]
    ReadOnly(PathBuf),
    /// SQLite would not use WAL mode for the file.
    #[error("delivery log database {} refused WAL mode", .0.display())]
    NotWal(PathBuf),
    /// SQLite would not lock the file exclusively (which keeps the WAL
    /// index off a shared-memory file; see [`connection`]).
    #[error("delivery log database {} refused exclusive locking", .0.display())]
    NotExclusive(PathBuf),
    /// The file exists but has never been written by phonehook.
    #[error("delivery log database {} has no events table yet", .0.display())]
    NotInitialized(PathBuf),
    /// A newer phonehook wrote the file.
    #[error(
        "the delivery log database has schema version {found}; this phonehook knows up to {known}"
    )]
    SchemaTooNew {
        /// The file's version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// The log is switched off in the configuration.
    #[error("the delivery log is disabled (log.enabled = false)")]
    Disabled,
    /// The log was closed.
    #[error("the delivery log is closed")]
    Closed,
    /// The writer thread could not start.
    #[error("cannot start the delivery log writer: {0}")]
    Thread(std::io::Error),
    /// A background task failed.
    #[error("delivery log task failed: {0}")]
    Task(String),
    /// A query could not be read.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The PostgreSQL store failed: unreachable, too slow, or a statement
    /// was refused.
    #[error("delivery log: {0}")]
    Store(#[from] StoreError),
    /// A stored row this build cannot read (written by a newer phonehook).
    #[error("delivery log row cannot be read: {0}")]
    BadRow(String),
    /// [`DeliveryLog::with_connection`] on a log kept in PostgreSQL: there
    /// is no SQLite connection, and state kept next to the events lives in
    /// the shared store's own tables instead.
    #[error("the delivery log is kept in PostgreSQL, not SQLite: it has no SQLite connection")]
    NotSqlite,
}

impl LogError {
    /// A failed PostgreSQL statement.
    fn postgres(source: tokio_postgres::Error) -> LogError {
        LogError::Store(StoreError::Statement(source))
    }

    fn database(path: &Path, source: rusqlite::Error) -> LogError {
        LogError::Database {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Names the file on a bare SQLite error.
    fn at(self, path: &Path) -> LogError {
        match self {
            LogError::Sqlite(source) => LogError::database(path, source),
            other => other,
        }
    }
}

/// The delivery log. Cheap to clone; every clone feeds the same writer.
#[derive(Clone)]
pub struct DeliveryLog {
    hasher: RecipientHasher,
    inner: Option<Arc<Inner>>,
}

/// Where an enabled log keeps its events.
enum Inner {
    /// The embedded file: its writer thread and its one connection.
    Sqlite {
        path: PathBuf,
        writer: writer::Writer,
        shared: Arc<connection::Shared>,
    },
    /// The shared database.
    Postgres(postgres::PgLog),
}

impl std::fmt::Debug for DeliveryLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("DeliveryLog");
        match self.inner.as_deref() {
            Some(Inner::Sqlite { path, .. }) => d.field("path", path),
            Some(Inner::Postgres(_)) => d.field("store", &"postgres"),
            None => d.field("enabled", &false),
        };
        d.finish_non_exhaustive()
    }
}

impl DeliveryLog {
    /// Opens (creating and migrating) the database and starts the writer.
    /// An unwritable database is not an error: the log starts anyway, drops
    /// and counts events, and keeps trying (see the module docs). Blocking:
    /// call it from `spawn_blocking` in async code.
    pub fn open(config: &LogConfig) -> Result<DeliveryLog, LogError> {
        config.validate()?;
        if !config.enabled {
            return Ok(DeliveryLog::disabled());
        }
        let (conn, key, key_to_store) = first_connection(config);
        let shared = Arc::new(connection::Shared::new(
            config.path.clone(),
            conn,
            key_to_store,
        ));
        let writer = writer::Writer::start(
            writer::Settings::of(config),
            config.path.clone(),
            shared.clone(),
        )?;
        Ok(DeliveryLog {
            hasher: RecipientHasher::new(&key),
            inner: Some(Arc::new(Inner::Sqlite {
                path: config.path.clone(),
                writer,
                shared,
            })),
        })
    }

    /// Opens the log in the shared PostgreSQL database (`store =
    /// "postgres://…"`; `pg` has applied the schema) and starts its writer
    /// task. `log.path` is ignored. Recipients are hashed with the key every
    /// instance shares (`log.recipient_hash_key`, else the one kept in the
    /// database's `meta` table), so any instance finds any instance's
    /// events by full number. Fails only when that key must be read and the
    /// database does not answer; once open, an unreachable database drops
    /// and counts events (see the module docs).
    pub async fn open_postgres(config: &LogConfig, pg: &Postgres) -> Result<DeliveryLog, LogError> {
        config.check(false)?;
        if !config.enabled {
            return Ok(DeliveryLog::disabled());
        }
        let configured = config.recipient_hash_key.as_deref().map(str::as_bytes);
        let key = pg.recipient_key(configured).await?;
        let settings = writer::Settings::of(config);
        Ok(DeliveryLog {
            hasher: RecipientHasher::new(&key),
            inner: Some(Arc::new(Inner::Postgres(postgres::PgLog::start(
                pg.clone(),
                settings,
            )))),
        })
    }

    /// A log that records nothing (`log.enabled = false`).
    pub fn disabled() -> DeliveryLog {
        DeliveryLog {
            hasher: RecipientHasher::new(&rand::random::<[u8; 32]>()),
            inner: None,
        }
    }

    /// The keyed hash the log searches numbers by; the guard keys its
    /// per-number state by it too, so what it stores joins the log's rows.
    pub fn hasher(&self) -> &RecipientHasher {
        &self.hasher
    }

    /// Whether events are recorded.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Starts an event for `message`, which came in by `route` (`hook`,
    /// `actions`, `runner`).
    pub fn pending(&self, message: &Message, route: &str) -> Pending {
        Pending::new(message, route, &self.hasher)
    }

    /// Queues `event` for writing. Never blocks; see [`writer::Writer::record`].
    pub fn record(&self, event: Event) {
        match self.inner.as_deref() {
            Some(Inner::Sqlite { writer, .. }) => writer.record(event),
            Some(Inner::Postgres(pg)) => pg.record(event),
            None => {}
        }
    }

    /// Waits until everything recorded so far is written (or dropped).
    pub async fn flush(&self) -> Result<(), LogError> {
        match self.inner.as_deref() {
            Some(Inner::Sqlite { writer, .. }) => writer.flush().await,
            Some(Inner::Postgres(pg)) => pg.flush().await,
            None => Ok(()),
        }
    }

    /// Writes everything recorded so far, stops the writer and releases the
    /// database file (graceful shutdown). Events recorded afterwards are
    /// dropped and counted; queries still work, each on a connection of its
    /// own.
    pub async fn close(&self) {
        match self.inner.as_deref() {
            Some(Inner::Sqlite { writer, shared, .. }) => {
                writer.close().await;
                let shared = shared.clone();
                // Waits for a query that holds the connection.
                let _ = tokio::task::spawn_blocking(move || shared.close()).await;
            }
            Some(Inner::Postgres(pg)) => pg.close().await,
            None => {}
        }
    }

    /// Counts since the log was opened (all zero when disabled).
    pub fn stats(&self) -> Stats {
        match self.inner.as_deref() {
            Some(Inner::Sqlite { writer, .. }) => writer.stats(),
            Some(Inner::Postgres(pg)) => pg.stats(),
            None => Stats::default(),
        }
    }

    /// One page of events, newest first. Reads what has been written; call
    /// [`DeliveryLog::flush`] first to include events still queued.
    pub async fn query(&self, query: Query) -> Result<Page, LogError> {
        let inner = self.inner.as_ref().ok_or(LogError::Disabled)?.clone();
        if let Inner::Postgres(pg) = &*inner {
            return pg.query(&query, &self.hasher).await;
        }
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || {
            inner.sqlite(|conn| query::run(conn, &query, &hasher).map_err(LogError::from))
        })
        .await
        .map_err(|e| LogError::Task(e.to_string()))?
    }

    /// Attempts per minute, delivered and failed, for the `minutes` minutes
    /// up to the one holding `now_ms` (see [`rate`]).
    pub async fn per_minute(&self, now_ms: i64, minutes: u32) -> Result<Vec<Minute>, LogError> {
        let inner = self.inner.as_ref().ok_or(LogError::Disabled)?.clone();
        if let Inner::Postgres(pg) = &*inner {
            return pg.per_minute(now_ms, minutes).await;
        }
        tokio::task::spawn_blocking(move || {
            inner.sqlite(|conn| rate::per_minute(conn, now_ms, minutes).map_err(LogError::from))
        })
        .await
        .map_err(|e| LogError::Task(e.to_string()))?
    }

    /// Runs `f` on the log's database connection — the only one this process
    /// may have (see [`connection`]) — opening it first if needed. For state
    /// kept next to the events. Blocking, and it waits while the writer
    /// writes a batch: call it from `spawn_blocking` in async code.
    /// SQLite only: a log in PostgreSQL answers [`LogError::NotSqlite`].
    pub fn with_connection<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R>,
    ) -> Result<R, LogError> {
        match self.inner.as_deref() {
            Some(Inner::Sqlite { path, shared, .. }) => shared
                .with(|conn| f(conn).map_err(LogError::from))
                .map_err(|e| e.at(path)),
            Some(Inner::Postgres(_)) => Err(LogError::NotSqlite),
            None => Err(LogError::Disabled),
        }
    }
}

impl Inner {
    /// Reads through the SQLite log's connection (see
    /// [`connection::Shared::read`]).
    fn sqlite<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, LogError>,
    ) -> Result<R, LogError> {
        match self {
            Inner::Sqlite { path, shared, .. } => shared.read(f).map_err(|e| e.at(path)),
            Inner::Postgres(_) => Err(LogError::NotSqlite),
        }
    }
}

/// The connection opened at start-up (when the file can be written), the
/// recipient-hash key, and the key the writer should store when it connects
/// later (none when the key is configured or already stored).
fn first_connection(config: &LogConfig) -> (Option<Connection>, Vec<u8>, Option<Vec<u8>>) {
    let configured = config
        .recipient_hash_key
        .as_ref()
        .map(|k| k.as_bytes().to_vec());
    let path = &config.path;
    let opened = schema::open_rw(path).and_then(|conn| match &configured {
        Some(key) => Ok((conn, key.clone())),
        None => {
            let key = schema::load_or_store_key(&conn, &rand::random::<[u8; 32]>())
                .map_err(|e| e.at(path))?;
            Ok((conn, key))
        }
    });
    match (opened, configured) {
        (Ok((conn, key)), _) => (Some(conn), key, None),
        (Err(error), Some(key)) => {
            warn_unwritable(path, &error);
            (None, key, None)
        }
        (Err(error), None) => {
            warn_unwritable(path, &error);
            // A read-only file may still hold the key; then searches by full
            // number keep working for the events already in it.
            let stored = schema::open_ro(path)
                .ok()
                .and_then(|c| schema::stored_key(&c).ok().flatten());
            match stored {
                Some(key) => (None, key, None),
                None => {
                    let key = rand::random::<[u8; 32]>().to_vec();
                    (None, key.clone(), Some(key))
                }
            }
        }
    }
}

fn warn_unwritable(path: &Path, error: &LogError) {
    tracing::warn!(path = %path.display(), error = %error,
        "delivery log database cannot be written; sending goes on, events are dropped and counted until it can");
}

#[cfg(test)]
mod tests;
