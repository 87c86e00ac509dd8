//! No duplicate texts from retried calls. Identity platforms and load
//! balancers call again when an answer is slow (Supabase's hooks retry up to
//! three times); the same message must not be texted twice. A request with
//! an `Idempotency-Key` header — or, without one, the same recipient, code
//! (or text), channel and action within `idempotency.window_secs` — gets the
//! first call's answer without a new vendor request, and a repeat that
//! arrives while the first is in flight waits for it.
//!
//! Only deliveries are kept: after a failed call the entry is dropped, so a
//! retry (what the caller's retry is for) sends again.
//!
//! Bounded (`max_entries`, oldest dropped first) and expiring with the
//! window; one store per process today, behind [`Idempotency`]'s two calls so
//! a shared store can take its place.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

/// `[idempotency]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct IdempotencyConfig {
    /// Whether repeats are recognised (`PHONEHOOK_IDEMPOTENCY__ENABLED=false`
    /// turns it off: benchmarks that send one body many times).
    pub enabled: bool,
    /// How long a delivered message's answer is kept, in seconds.
    pub window_secs: u64,
    /// The most answers kept at once.
    pub max_entries: usize,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        IdempotencyConfig {
            enabled: true,
            window_secs: 60,
            max_entries: 100_000,
        }
    }
}

/// An answer as kept for repeats.
#[derive(Clone, Debug)]
pub struct Stored {
    /// The HTTP status.
    pub status: u16,
    /// Headers to repeat (event id, plugin, content type).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: bytes::Bytes,
}

/// One message's answer, set once by whichever call sends it; the others
/// wait on it (`OnceCell::get_or_init` runs one initialiser at a time, so a
/// repeat that arrives while the first is in flight waits for it).
pub type Cell = Arc<OnceCell<Stored>>;

/// The store of recent answers.
pub struct Idempotency {
    config: IdempotencyConfig,
    keys: std::collections::hash_map::RandomState,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    cells: HashMap<u64, Cell>,
    order: VecDeque<(Instant, u64)>,
}

impl Idempotency {
    /// A store with these settings.
    pub fn new(config: &IdempotencyConfig) -> Idempotency {
        Idempotency {
            config: config.clone(),
            keys: std::collections::hash_map::RandomState::new(),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The key of a call: its `Idempotency-Key` (per route), else what makes
    /// two calls the same message.
    pub fn key(
        &self,
        route: &str,
        header: Option<&str>,
        message: &phonehook_plugin_api::Message,
    ) -> u64 {
        match header {
            Some(key) => self.keys.hash_one(("header", route, key)),
            None => {
                let secret = if message.code.is_empty() {
                    message.text.as_str()
                } else {
                    message.code.as_str()
                };
                self.keys.hash_one((
                    "message",
                    message.recipient.as_str(),
                    secret,
                    message.channel.as_str(),
                    message.action.as_str(),
                ))
            }
        }
    }

    /// Whether repeats are recognised at all.
    pub fn is_enabled(&self) -> bool {
        self.config.enabled
    }

    /// The cell for `key` (none when the store is off): new for the first
    /// call within the window, shared with it for a repeat.
    pub fn claim(&self, key: u64) -> Option<Cell> {
        if !self.config.enabled {
            return None;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let window = Duration::from_secs(self.config.window_secs);
        let now = Instant::now();
        while let Some(&(at, old)) = inner.order.front() {
            if now.duration_since(at) < window && inner.order.len() < self.config.max_entries {
                break;
            }
            inner.order.pop_front();
            inner.cells.remove(&old);
        }
        if let Some(cell) = inner.cells.get(&key) {
            return Some(cell.clone());
        }
        let cell: Cell = Arc::new(OnceCell::new());
        inner.cells.insert(key, cell.clone());
        inner.order.push_back((now, key));
        Some(cell)
    }

    /// After the answer is in `cell`: a delivery is kept for repeats; any
    /// other answer is dropped (so the caller's retry sends again).
    pub fn settle(&self, key: u64, cell: &Cell) {
        if cell.get().is_some_and(|a| a.status == 200) {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.cells.get(&key).is_some_and(|c| Arc::ptr_eq(c, cell)) {
            inner.cells.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::Message;

    fn answer(status: u16) -> Stored {
        Stored {
            status,
            headers: Vec::new(),
            body: bytes::Bytes::from_static(b"{}"),
        }
    }

    #[tokio::test]
    async fn a_repeat_gets_the_first_delivery_and_a_failure_is_not_kept() {
        let store = Idempotency::new(&IdempotencyConfig::default());
        let m = Message::new("+14155550100", "Your code is 123456").with_code("123456");
        let other = Message::new("+14155550100", "Your code is 654321").with_code("654321");
        let key = store.key("hook", None, &m);
        assert_ne!(
            key,
            store.key("hook", None, &other),
            "another code is another message"
        );
        assert_ne!(key, store.key("hook", Some("k1"), &m));
        let first = store.claim(key).expect("on");
        first.get_or_init(|| async { answer(200) }).await;
        store.settle(key, &first);
        let repeat = store.claim(key).expect("on");
        assert!(
            Arc::ptr_eq(&first, &repeat),
            "a repeat shares the first answer"
        );

        let failing = store.key("hook", None, &other);
        let cell = store.claim(failing).expect("on");
        cell.get_or_init(|| async { answer(502) }).await;
        store.settle(failing, &cell);
        let retry = store.claim(failing).expect("on");
        assert!(retry.get().is_none(), "a retry after a failure sends");
    }

    #[test]
    fn entries_expire_with_their_window_and_off_means_off() {
        let store = Idempotency::new(&IdempotencyConfig {
            window_secs: 0,
            ..IdempotencyConfig::default()
        });
        let m = Message::new("+14155550100", "Your code is 123456");
        let key = store.key("hook", None, &m);
        let first = store.claim(key).expect("on");
        let _ = first.set(answer(200));
        let again = store.claim(key).expect("on");
        assert!(!Arc::ptr_eq(&first, &again), "expired");
        let off = Idempotency::new(&IdempotencyConfig {
            enabled: false,
            ..IdempotencyConfig::default()
        });
        assert!(off.claim(key).is_none());
    }
}
