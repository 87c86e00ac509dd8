//! The delivery log in the shared PostgreSQL database (`store =
//! "postgres://…"`): the same events, filters, pages and counts as the
//! SQLite log, so every instance of a fleet writes into, and reads from,
//! one table.
//!
//! What differs from SQLite is only how events get there and how statements
//! are sent:
//!
//! - The queue is a bounded tokio channel and the writer a tokio task: the
//!   driver is asynchronous, so a slow database parks a future, not a
//!   runtime worker (SQLite's blocking writer needs a thread of its own).
//! - A batch is one binary `COPY` (see [`copy`] for why), bounded in time by
//!   [`WRITE_LIMIT`]. A batch that fails — database down, unreachable, too
//!   slow — is dropped and counted as `write_failed`, reported to the
//!   store's [`crate::store::Health`], and warned about at most once a
//!   minute; the writer never retries a batch, so the queue behind it moves
//!   on as soon as the limit passes. The next batch simply tries again on
//!   whatever connection the pool has then.
//! - Retention runs once at start in the writer task, before the first
//!   batch (so, as with SQLite, a flush after opening sees it done), then
//!   every interval in a task of its own: PostgreSQL's row locks let it
//!   delete while the writer inserts. Every instance runs it; repeated
//!   deletes of the same old rows are harmless.
//!
//! The statements are the ones `query`, `rate` and `retention` write for
//! SQLite, renumbered ([`sql::numbered`]); rows map to events through the one
//! mapping in `row`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use deadpool_postgres::Object;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::ToSql;

use super::event::{Event, RecipientHasher};
use super::query::{self, Page, Query};
use super::rate::{Minute, Window};
use super::writer::{Command, Counters, Settings, Stats, Throttle, WARN_INTERVAL};
use super::{retention, row, sql, time, LogError};
use crate::store::{Postgres, StoreError};

/// Longest one batch may take, waiting for a connection included. A batch
/// still unwritten by then is dropped: events queue behind it, and a
/// database that slow would only make the queue overflow later. Longer than
/// the pool's own wait and connect timeouts, so those report first.
pub const WRITE_LIMIT: Duration = Duration::from_secs(5);

/// Longest a query (a page, the per-minute counts, a retention chunk) may
/// take: an admin waits for it, not a message.
pub const READ_LIMIT: Duration = Duration::from_secs(30);

/// The log's PostgreSQL side: the queue, the writer task, and the reads.
pub struct PgLog {
    pg: Postgres,
    tx: mpsc::Sender<Command>,
    counters: Arc<Counters>,
    queue_full: Throttle,
    writer: Mutex<Option<JoinHandle<()>>>,
    retention: Option<JoinHandle<()>>,
}

impl PgLog {
    /// Starts the writer (and retention) tasks. Must run inside a tokio
    /// runtime.
    pub fn start(pg: Postgres, settings: Settings) -> PgLog {
        let (tx, rx) = mpsc::channel(settings.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let retention = (settings.retention_days > 0).then(|| {
            tokio::spawn(apply_retention(
                pg.clone(),
                settings.retention_days,
                settings.retention_interval,
            ))
        });
        let worker = Worker {
            pg: pg.clone(),
            rx,
            counters: counters.clone(),
            failures: Throttle::new(WARN_INTERVAL),
            failing: false,
            settings,
        };
        let writer = tokio::spawn(worker.run());
        PgLog {
            pg,
            tx,
            counters,
            queue_full: Throttle::new(WARN_INTERVAL),
            writer: Mutex::new(Some(writer)),
            retention,
        }
    }

    /// Queues `event` without waiting; drops and counts it when the queue is
    /// full or the writer has stopped.
    pub fn record(&self, event: Event) {
        match self.tx.try_send(Command::Record(Box::new(event))) {
            Ok(()) => Counters::add(&self.counters.accepted, 1),
            Err(TrySendError::Full(_)) => self.counters.queue_full(&self.queue_full),
            Err(TrySendError::Closed(_)) => self.counters.closed(),
        }
    }

    /// Waits until every event accepted before this call is written or
    /// dropped. The flush request waits for room in a full queue: it must
    /// not be lost the way an event may be.
    pub async fn flush(&self) -> Result<(), LogError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Command::Flush(ack))
            .await
            .map_err(|_| LogError::Closed)?;
        done.await.map_err(|_| LogError::Closed)
    }

    /// Writes everything accepted, then stops the writer. Later events are
    /// dropped and counted. Calling it again does nothing.
    pub async fn close(&self) {
        let writer = lock(&self.writer).take();
        let Some(writer) = writer else {
            return;
        };
        // An error means the writer already stopped; joining says how.
        let _ = self.tx.send(Command::Close).await;
        if writer.await.is_err() {
            tracing::error!(
                "delivery log writer task failed while closing; some events may be lost"
            );
        }
        if let Some(retention) = &self.retention {
            retention.abort();
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> Stats {
        self.counters.stats()
    }

    /// One page of `query`, newest first.
    pub async fn query(&self, query: &Query, hasher: &RecipientHasher) -> Result<Page, LogError> {
        let (statement, args) = query::select(query, hasher);
        let statement = sql::numbered(&statement);
        let rows = self
            .pg
            .within(
                "reading the delivery log",
                READ_LIMIT,
                |client| async move {
                    Ok(client
                        .query(statement.as_str(), &sql::pg_params(&args))
                        .await?)
                },
            )
            .await?;
        let rows = rows
            .iter()
            .map(row::read)
            .collect::<Result<Vec<_>, LogError>>()?;
        Ok(query::page(query, rows))
    }

    /// Attempts per minute (see [`super::rate`]).
    pub async fn per_minute(&self, now_ms: i64, minutes: u32) -> Result<Vec<Minute>, LogError> {
        let window = Window::new(now_ms, minutes);
        let statement = sql::numbered(super::rate::SQL);
        let rows = self
            .pg
            .within(
                "counting the delivery log",
                READ_LIMIT,
                |client| async move {
                    let [a, b, c] = window.params();
                    let params: [&(dyn ToSql + Sync); 3] = [&a, &b, &c];
                    Ok(client.query(statement.as_str(), &params).await?)
                },
            )
            .await?;
        let counts = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<_, i64>(0)?,
                    r.try_get::<_, String>(1)?,
                    r.try_get::<_, i64>(2)?,
                ))
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(LogError::postgres)?;
        Ok(window.tally(counts))
    }
}

impl Drop for PgLog {
    /// A log dropped without [`PgLog::close`]: the writer ends by itself
    /// when the queue's sender goes (it writes what is queued first), but
    /// retention sleeps between runs and would outlive it.
    fn drop(&mut self) {
        if let Some(retention) = &self.retention {
            retention.abort();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves the data (an Option)
    // perfectly usable.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The writer task's state.
struct Worker {
    pg: Postgres,
    rx: mpsc::Receiver<Command>,
    settings: Settings,
    counters: Arc<Counters>,
    failures: Throttle,
    /// Whether the last write failed (to log once when writing resumes).
    failing: bool,
}

impl Worker {
    /// Collects batches until one is full or its oldest event has waited the
    /// flush interval, and writes it; a flush writes the batch first and
    /// then answers. The queue is FIFO, so a flush is answered only after
    /// every event accepted before it.
    async fn run(mut self) {
        if self.settings.retention_days > 0 {
            retain(&self.pg, self.settings.retention_days).await;
        }
        let mut batch: Vec<Event> = Vec::new();
        let mut deadline: Option<Instant> = None;
        loop {
            let command = match deadline {
                // `recv` is cancel-safe: a timeout loses no command.
                Some(at) => match tokio::time::timeout_at(at, self.rx.recv()).await {
                    Ok(command) => command,
                    Err(_) => {
                        self.write(std::mem::take(&mut batch)).await;
                        deadline = None;
                        continue;
                    }
                },
                None => self.rx.recv().await,
            };
            match command {
                Some(Command::Record(event)) => {
                    if batch.is_empty() {
                        deadline = Some(Instant::now() + self.settings.flush_interval);
                    }
                    batch.push(*event);
                    if batch.len() >= self.settings.batch_size {
                        self.write(std::mem::take(&mut batch)).await;
                        deadline = None;
                    }
                }
                Some(Command::Flush(ack)) => {
                    self.write(std::mem::take(&mut batch)).await;
                    deadline = None;
                    let _ = ack.send(());
                }
                Some(Command::Close) | None => break,
            }
        }
        self.drain(batch).await;
    }

    /// After close: refuses new events (they are counted as `closed`), then
    /// writes whatever raced in behind the close request and answers
    /// flushes, so nothing accepted is silently lost.
    async fn drain(&mut self, mut batch: Vec<Event>) {
        self.rx.close();
        while let Some(command) = self.rx.recv().await {
            match command {
                Command::Record(event) => {
                    batch.push(*event);
                    if batch.len() >= self.settings.batch_size {
                        self.write(std::mem::take(&mut batch)).await;
                    }
                }
                Command::Flush(ack) => {
                    self.write(std::mem::take(&mut batch)).await;
                    let _ = ack.send(());
                }
                Command::Close => {}
            }
        }
        self.write(batch).await;
    }

    async fn write(&mut self, batch: Vec<Event>) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len();
        let result = self
            .pg
            .within("writing the delivery log", WRITE_LIMIT, |client| {
                copy(client, &batch)
            })
            .await;
        match result {
            Ok(()) => {
                Counters::add(&self.counters.written, n);
                crate::metrics::log_events_written(n as u64);
                if std::mem::take(&mut self.failing) {
                    tracing::info!("delivery log is being written to PostgreSQL again");
                }
            }
            Err(error) => {
                // `within` has told the store's health already.
                self.failing = true;
                Counters::add(&self.counters.dropped_write_failed, n);
                crate::metrics::log_events_dropped("write_failed", n as u64);
                if let Some(total) = self.failures.hit(n as u64) {
                    tracing::warn!(dropped = total, error = %error,
                        "cannot write the delivery log to PostgreSQL; events dropped, sending goes on");
                }
            }
        }
    }
}

/// Writes `batch` as one binary `COPY … FROM STDIN`.
///
/// Why `COPY` rather than a multi-row `INSERT … VALUES (…),(…)`: its
/// statement text is the same for every batch, so it is prepared once per
/// connection (`prepare_cached`) while an `INSERT` would be a new statement
/// for every batch length; it has no parameter limit (PostgreSQL allows
/// 65 535 parameters per statement, 2 340 events of 28 columns, which
/// `log.batch_size` could exceed); and the rows stream out as they are
/// encoded, with one wait for the server's answer at the end. It is one
/// statement, so the batch is stored whole or not at all. A `COPY` cut off
/// (by [`WRITE_LIMIT`]) is aborted by the driver, which leaves the
/// connection usable.
async fn copy(client: Object, batch: &[Event]) -> Result<(), StoreError> {
    let statement = client.prepare_cached(row::PG_COPY).await?;
    let sink = client.copy_in::<_, Bytes>(&statement).await?;
    let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &row::PG_TYPES));
    for event in batch {
        let values = row::values(event);
        writer.as_mut().write(&sql::pg_params(&values)).await?;
    }
    writer.finish().await?;
    Ok(())
}

/// Deletes events older than `days` every `interval` (the first run is the
/// writer's, at start), until aborted.
async fn apply_retention(pg: Postgres, days: u32, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        retain(&pg, days).await;
    }
}

/// One retention run. A failure is logged and tried again at the next
/// interval.
async fn retain(pg: &Postgres, days: u32) {
    match purge(pg, days).await {
        Ok(0) => {}
        Ok(deleted) => tracing::info!(
            deleted,
            retention_days = days,
            "delivery log retention applied"
        ),
        Err(error) => tracing::warn!(error = %error,
            "delivery log retention failed; retrying at the next interval"),
    }
}

/// Deletes events older than `days`, in chunks so that no statement holds
/// many row locks for long; returns how many.
async fn purge(pg: &Postgres, days: u32) -> Result<u64, StoreError> {
    let Some(cutoff) = retention::cutoff(days, time::now_ms()) else {
        return Ok(0);
    };
    let statement = sql::numbered(retention::DELETE_CHUNK);
    let statement = statement.as_str();
    let chunk = retention::CHUNK;
    let mut deleted = 0;
    loop {
        let n = pg
            .within(
                "applying delivery log retention",
                READ_LIMIT,
                |client| async move { Ok(client.execute(statement, &[&cutoff, &chunk]).await?) },
            )
            .await?;
        deleted += n;
        if i64::try_from(n).unwrap_or(i64::MAX) < chunk {
            return Ok(deleted);
        }
    }
}
