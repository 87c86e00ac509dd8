//! The SQLite writer: a bounded queue in front of one thread that inserts
//! events in batches, one transaction per batch, through the log's one connection
//! ([`super::connection`]). A query holding that connection pauses the
//! thread; the queue absorbs the pause (and drops and counts beyond it).
//!
//! **Architecture Invariant:** [`Writer::record`] never blocks and never
//! fails the send path. A full queue or an unwritable database drops events;
//! every drop is counted (in [`Stats`] and the `phonehook_log_events_dropped_total`
//! metric) and logged at most once per [`WARN_INTERVAL`].
//!
//! A dedicated OS thread rather than a tokio task because rusqlite is
//! blocking: a slow disk must stall this thread, not a runtime worker that is
//! serving requests.
//!
//! The queue is FIFO, so a flush or close request placed on it is answered
//! only after every event accepted before it has been written (or dropped).
//!
//! While a batch fills, the thread sleeps (`park_timeout`) rather than waiting
//! on the queue: a waiting receiver is woken by every event, which costs a
//! system call per message on the send path. It is woken instead when a full
//! batch is queued, for flush and close, and at the flush interval.
//!
//! The PostgreSQL writer (`postgres`) keeps the same [`Stats`], counts
//! drops the same way and reuses [`Throttle`]; only its queue (a tokio
//! channel) and its writing differ.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::connection::Shared;
use super::event::Event;
use super::{retention, row, time, LogError};

/// At most one warning about dropped events per this interval (per cause).
pub const WARN_INTERVAL: Duration = Duration::from_secs(60);

/// How events are queued and batched, and how long they are kept: the same
/// for both stores' writers (SQLite's thread, PostgreSQL's task).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Queue capacity (events).
    pub queue_capacity: usize,
    /// Largest batch per write (a transaction, or one `COPY`).
    pub batch_size: usize,
    /// Longest an accepted event waits before its batch is written.
    pub flush_interval: Duration,
    /// Retention in days (0: keep everything).
    pub retention_days: u32,
    /// How often retention runs.
    pub retention_interval: Duration,
}

impl Settings {
    /// The settings `[log]` asks for.
    pub fn of(config: &super::LogConfig) -> Settings {
        Settings {
            queue_capacity: config.queue_capacity,
            batch_size: config.batch_size,
            flush_interval: Duration::from_millis(config.flush_interval_ms),
            retention_days: config.retention_days,
            retention_interval: retention::INTERVAL,
        }
    }
}

/// What the send path and the log hand a writer, in queue order.
pub(super) enum Command {
    Record(Box<Event>),
    Flush(oneshot::Sender<()>),
    Close,
}

/// Counts since the log was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events taken into the queue.
    pub accepted: u64,
    /// Events written to the database.
    pub written: u64,
    /// Events refused because the queue was full.
    pub dropped_queue_full: u64,
    /// Events lost because the database could not be written.
    pub dropped_write_failed: u64,
    /// Events recorded after the log was closed.
    pub dropped_closed: u64,
}

impl Stats {
    /// All events lost, whatever the cause.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.dropped_write_failed + self.dropped_closed
    }
}

/// The counts behind [`Stats`]; the PostgreSQL writer keeps the same ones.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) accepted: AtomicU64,
    pub(super) written: AtomicU64,
    pub(super) dropped_queue_full: AtomicU64,
    pub(super) dropped_write_failed: AtomicU64,
    pub(super) dropped_closed: AtomicU64,
}

impl Counters {
    pub(super) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The counts so far.
    pub(super) fn stats(&self) -> Stats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            accepted: get(&self.accepted),
            written: get(&self.written),
            dropped_queue_full: get(&self.dropped_queue_full),
            dropped_write_failed: get(&self.dropped_write_failed),
            dropped_closed: get(&self.dropped_closed),
        }
    }

    /// An event refused because the queue was full: counted, and warned
    /// about at most once per `throttle`'s interval.
    pub(super) fn queue_full(&self, throttle: &Throttle) {
        Counters::add(&self.dropped_queue_full, 1);
        crate::metrics::log_events_dropped("queue_full", 1);
        if let Some(n) = throttle.hit(1) {
            tracing::warn!(
                dropped = n,
                "delivery log queue is full; events dropped (the database is too slow)"
            );
        }
    }

    /// An event recorded after the writer stopped.
    pub(super) fn closed(&self) {
        Counters::add(&self.dropped_closed, 1);
        crate::metrics::log_events_dropped("closed", 1);
    }
}

/// The sending side: what [`super::DeliveryLog`] holds.
pub struct Writer {
    tx: SyncSender<Command>,
    counters: Arc<Counters>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The writer thread, to wake it when a batch is ready.
    waker: std::thread::Thread,
    batch_size: u64,
    queue_full: Throttle,
}

impl Writer {
    /// Starts the writer thread, writing through `shared` (which keeps
    /// reopening the connection when it cannot be opened or fails).
    pub fn start(
        settings: Settings,
        path: PathBuf,
        shared: Arc<Shared>,
    ) -> Result<Writer, LogError> {
        let (tx, rx) = mpsc::sync_channel(settings.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let batch_size = u64::try_from(settings.batch_size).unwrap_or(u64::MAX);
        let worker = Worker {
            rx,
            shared,
            schedule: retention::Schedule::new(settings.retention_interval),
            counters: counters.clone(),
            failures: Throttle::new(WARN_INTERVAL),
            failing: false,
            settings,
            path,
        };
        let thread = std::thread::Builder::new()
            .name("phonehook-log-writer".to_owned())
            .spawn(move || worker.run())
            .map_err(LogError::Thread)?;
        Ok(Writer {
            tx,
            counters,
            waker: thread.thread().clone(),
            thread: Mutex::new(Some(thread)),
            batch_size,
            queue_full: Throttle::new(WARN_INTERVAL),
        })
    }

    /// Queues `event` without waiting; drops and counts it when the queue is
    /// full or the writer has stopped.
    pub fn record(&self, event: Event) {
        match self.tx.try_send(Command::Record(Box::new(event))) {
            Ok(()) => {
                let c = &self.counters;
                let accepted = c.accepted.fetch_add(1, Ordering::Relaxed) + 1;
                let done = c.written.load(Ordering::Relaxed)
                    + c.dropped_write_failed.load(Ordering::Relaxed);
                if accepted.saturating_sub(done) >= self.batch_size {
                    // Cheap when the thread is not parked: no system call.
                    self.waker.unpark();
                }
            }
            Err(TrySendError::Full(_)) => self.counters.queue_full(&self.queue_full),
            Err(TrySendError::Disconnected(_)) => self.counters.closed(),
        }
    }

    /// Waits until every event accepted before this call is written or
    /// dropped.
    pub async fn flush(&self) -> Result<(), LogError> {
        let (ack, done) = oneshot::channel();
        self.send_command(Command::Flush(ack)).await?;
        done.await.map_err(|_| LogError::Closed)
    }

    /// Writes everything accepted, then stops the thread. Later events are
    /// dropped and counted. Calling it again does nothing.
    pub async fn close(&self) {
        let thread = lock(&self.thread).take();
        let Some(thread) = thread else {
            return;
        };
        let tx = self.tx.clone();
        // Blocking: the queue may be full, and joining waits for the last
        // batch to reach the disk.
        let joined = tokio::task::spawn_blocking(move || {
            let _ = tx.send(Command::Close);
            thread.thread().unpark();
            thread.join()
        })
        .await;
        if !matches!(joined, Ok(Ok(()))) {
            tracing::error!(
                "delivery log writer thread failed while closing; some events may be lost"
            );
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> Stats {
        self.counters.stats()
    }

    /// Queues a control command, waiting for room if the queue is full (flush
    /// and close must not be lost the way an event may be).
    async fn send_command(&self, command: Command) -> Result<(), LogError> {
        let sent = self.try_send_command(command).await;
        self.waker.unpark();
        sent
    }

    async fn try_send_command(&self, command: Command) -> Result<(), LogError> {
        match self.tx.try_send(command) {
            Ok(()) => Ok(()),
            Err(TrySendError::Disconnected(_)) => Err(LogError::Closed),
            Err(TrySendError::Full(command)) => {
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || tx.send(command))
                    .await
                    .map_err(|e| LogError::Task(e.to_string()))?
                    .map_err(|_| LogError::Closed)
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves the data (an Option)
    // perfectly usable.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether the writer keeps going after a batch.
#[derive(PartialEq, Eq)]
enum Next {
    Continue,
    Stop,
}

/// The writer thread's state.
struct Worker {
    rx: Receiver<Command>,
    shared: Arc<Shared>,
    settings: Settings,
    /// The database file, for log lines.
    path: PathBuf,
    schedule: retention::Schedule,
    counters: Arc<Counters>,
    failures: Throttle,
    /// Whether the last write failed (to log once when writing resumes).
    failing: bool,
}

impl Worker {
    fn run(mut self) {
        loop {
            if self.schedule.due() {
                self.apply_retention();
            }
            let command = match self.rx.recv_timeout(self.schedule.wait()) {
                Ok(command) => command,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let next = match command {
                Command::Record(event) => self.collect_and_write(*event),
                Command::Flush(ack) => {
                    let _ = ack.send(());
                    Next::Continue
                }
                Command::Close => Next::Stop,
            };
            if next == Next::Stop {
                break;
            }
        }
        self.drain();
    }

    /// Gathers a batch starting with `first` and writes it when it is full,
    /// when the flush interval has passed, or before a control command.
    fn collect_and_write(&mut self, first: Event) -> Next {
        let deadline = Instant::now() + self.settings.flush_interval;
        let mut batch = vec![first];
        loop {
            if let Some(next) = self.take_queued(&mut batch) {
                return next;
            }
            if batch.is_empty() {
                return Next::Continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::park_timeout(left);
        }
        self.write(batch);
        Next::Continue
    }

    /// Moves queued events into `batch` without waiting, writing each batch
    /// that fills. A control command ends it: the batch is written first,
    /// then the command is answered.
    fn take_queued(&mut self, batch: &mut Vec<Event>) -> Option<Next> {
        loop {
            let command = match self.rx.try_recv() {
                Ok(Command::Record(event)) => {
                    batch.push(*event);
                    if batch.len() >= self.settings.batch_size {
                        self.write(std::mem::take(batch));
                    }
                    continue;
                }
                Ok(command) => command,
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => Command::Close,
            };
            self.write(std::mem::take(batch));
            return Some(match command {
                Command::Flush(ack) => {
                    let _ = ack.send(());
                    Next::Continue
                }
                Command::Close => Next::Stop,
                Command::Record(_) => Next::Continue,
            });
        }
    }

    /// After close: writes whatever raced in behind the close request, and
    /// answers flushes, so nothing accepted is silently lost.
    fn drain(&mut self) {
        let mut batch = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(Command::Record(event)) => batch.push(*event),
                Ok(Command::Flush(ack)) => {
                    self.write(std::mem::take(&mut batch));
                    let _ = ack.send(());
                }
                Ok(Command::Close) => {}
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        self.write(batch);
    }

    fn write(&mut self, batch: Vec<Event>) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len();
        match self.insert(&batch) {
            Ok(()) => {
                Counters::add(&self.counters.written, n);
                crate::metrics::log_events_written(n as u64);
                if std::mem::take(&mut self.failing) {
                    tracing::info!(path = %self.path.display(), "delivery log is being written again");
                }
            }
            Err(error) => {
                self.shared.reset();
                self.failing = true;
                Counters::add(&self.counters.dropped_write_failed, n);
                crate::metrics::log_events_dropped("write_failed", n as u64);
                if let Some(total) = self.failures.hit(n as u64) {
                    tracing::warn!(dropped = total, error = %error,
                        "cannot write the delivery log; events dropped, sending goes on");
                }
            }
        }
    }

    fn insert(&mut self, batch: &[Event]) -> Result<(), LogError> {
        self.shared.with(|conn| {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached(row::INSERT)?;
                for event in batch {
                    row::insert(&mut stmt, event)?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn apply_retention(&mut self) {
        self.schedule.ran();
        let days = self.settings.retention_days;
        if days == 0 {
            return;
        }
        let result = self
            .shared
            .with(|conn| retention::purge(conn, days, time::now_ms()));
        match result {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(
                deleted,
                retention_days = days,
                "delivery log retention applied"
            ),
            Err(error) => {
                self.shared.reset();
                tracing::warn!(error = %error, "delivery log retention failed; retrying at the next interval");
            }
        }
    }
}

/// "Log once per interval": counts hits and lets one caller per interval
/// report the total since the last report. Safe to share between threads.
pub struct Throttle {
    start: Instant,
    interval_ms: u64,
    /// Milliseconds since `start` of the last report, plus one (0: never).
    last: AtomicU64,
    pending: AtomicU64,
}

impl Throttle {
    /// A throttle that reports at most once per `interval`.
    pub fn new(interval: Duration) -> Throttle {
        Throttle {
            start: Instant::now(),
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            last: AtomicU64::new(0),
            pending: AtomicU64::new(0),
        }
    }

    /// Adds `n`; returns the total to report when a report is due.
    pub fn hit(&self, n: u64) -> Option<u64> {
        self.pending.fetch_add(n, Ordering::Relaxed);
        let now = u64::try_from(self.start.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let last = self.last.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= self.interval_ms;
        // Only the caller that moves `last` reports, so concurrent hits
        // produce one line.
        if due
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.pending.swap(0, Ordering::Relaxed));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_reports_once_per_interval_with_the_total() {
        let throttle = Throttle::new(Duration::from_millis(50));
        assert_eq!(throttle.hit(3), Some(3));
        assert_eq!(throttle.hit(2), None);
        assert_eq!(throttle.hit(4), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(throttle.hit(1), Some(7));
    }
}
