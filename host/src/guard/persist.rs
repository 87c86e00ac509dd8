//! Keeping the safe list and backoffs across restarts, in the delivery log's
//! database. Backoffs are written by a thread of their own from a bounded
//! queue, so a send never waits for the disk; a full queue drops the write
//! (the backoff still holds in memory) and says so once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};

use super::counters::BackoffState;
use super::safelist::Entry;
use crate::deliverylog::guard_state::{self, StoredBackoff, StoredEntry};
use crate::deliverylog::{DeliveryLog, RecipientHasher};

/// Writes that wait for the thread; beyond this, backoff writes are dropped.
const QUEUE: usize = 4096;

enum Write {
    Backoff(StoredBackoff),
    Forget(String),
}

/// What was stored.
pub struct Stored {
    pub safe_list: Vec<StoredEntry>,
    pub backoffs: Vec<StoredBackoff>,
}

/// The writer, or nothing when the log is off.
pub struct Persister {
    log: DeliveryLog,
    queue: Option<SyncSender<Write>>,
    dropped_said: AtomicBool,
}

impl Persister {
    /// Starts the writer thread when `log` records.
    pub fn start(log: DeliveryLog) -> Persister {
        let queue = log.is_enabled().then(|| {
            let (tx, rx) = mpsc::sync_channel::<Write>(QUEUE);
            let writer_log = log.clone();
            let spawned = std::thread::Builder::new()
                .name("phonehook-guard-store".to_owned())
                .spawn(move || {
                    for write in rx {
                        let result = writer_log.with_connection(|c| match &write {
                            Write::Backoff(b) => guard_state::put_backoff(c, b),
                            Write::Forget(hash) => guard_state::delete_backoff(c, hash),
                        });
                        if let Err(e) = result {
                            tracing::debug!(error = %e, "a guard backoff was not stored");
                        }
                    }
                });
            match spawned {
                Ok(_) => Some(tx),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start the guard's store thread; backoffs last until the server stops");
                    None
                }
            }
        });
        if !log.is_enabled() {
            tracing::info!("the guard's safe list and backoffs are not kept across restarts (log.enabled = false)");
        }
        Persister {
            log,
            queue: queue.flatten(),
            dropped_said: AtomicBool::new(false),
        }
    }

    /// No writer: the state lives elsewhere (the shared store).
    pub fn off(log: DeliveryLog) -> Persister {
        Persister {
            log,
            queue: None,
            dropped_said: AtomicBool::new(false),
        }
    }

    /// Whether writes reach the database.
    pub fn is_on(&self) -> bool {
        self.queue.is_some()
    }

    /// The stored safe list and the backoffs still in force. Blocking.
    pub fn load(&self, quiet_secs: u64) -> Option<Stored> {
        if !self.is_on() {
            return None;
        }
        let now_ms = crate::deliverylog::time::now_ms();
        let quiet_ms = i64::try_from(quiet_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let loaded = self.log.with_connection(|c| {
            Ok(Stored {
                safe_list: guard_state::safe_list(c)?,
                backoffs: guard_state::backoffs(c, now_ms, quiet_ms)?,
            })
        });
        match loaded {
            Ok(stored) => {
                if !stored.backoffs.is_empty() || !stored.safe_list.is_empty() {
                    tracing::info!(
                        safe_list = stored.safe_list.len(),
                        backoffs = stored.backoffs.len(),
                        "restored the guard's safe list and backoffs"
                    );
                }
                Some(stored)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the guard's stored safe list and backoffs; starting without them");
                None
            }
        }
    }

    /// Queues a number's backoff for storing. Never blocks.
    pub fn backoff(&self, hasher: &RecipientHasher, number: &str, state: BackoffState) {
        let Some(queue) = &self.queue else { return };
        let to_ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        let write = Write::Backoff(StoredBackoff {
            recipient_hash: hasher.hash(number),
            sends: state.sends,
            last_ms: to_ms(state.last_s),
            next_ms: to_ms(state.next_s),
        });
        if let Err(TrySendError::Full(_)) = queue.try_send(write) {
            if !self.dropped_said.swap(true, Ordering::Relaxed) {
                tracing::warn!("the guard's store cannot keep up; some backoffs hold in memory only until the next restart");
            }
        }
    }

    /// Forgets a number's stored backoff.
    pub fn forget_backoff(&self, recipient_hash: &str) {
        if let Some(queue) = &self.queue {
            let _ = queue.try_send(Write::Forget(recipient_hash.to_owned()));
        }
    }

    /// Stores the API's safe-list entries, replacing what was stored.
    /// Blocking; a failure is logged (the list holds in memory).
    pub fn safe_list(&self, entries: Vec<Entry>) {
        if !self.is_on() {
            return;
        }
        let stored: Vec<StoredEntry> = entries
            .into_iter()
            .map(|e| StoredEntry {
                entry: e.entry,
                note: e.note,
                added_ms: e.added_ms,
            })
            .collect();
        if let Err(e) = self
            .log
            .with_connection(|c| guard_state::replace_safe_list(c, &stored))
        {
            tracing::warn!(error = %e, "the safe list was changed but not stored; it lasts until the server stops");
        }
    }
}
