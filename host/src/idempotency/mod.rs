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
//! window, in this process ([`Idempotency::claim`], [`Idempotency::settle`]:
//! concurrent repeats on one instance share one cell and one answer).
//!
//! **With a shared store** ([`crate::store::Shared`]) a repeat that lands on
//! another instance is recognised too ([`Idempotency::begin`],
//! [`Idempotency::finish`], table `idempotency`): keys are an HMAC under a
//! key derived from the shared recipient-hash key, so every instance names
//! a call alike. The first call inserts the key's row and sends; a
//! delivery's answer is stored in the row, any other answer deletes it. A
//! repeat finds the stored answer and repeats it, or finds the first call
//! pending and waits for it (polling every [`POLL`], until the first call's
//! failover deadline has passed, when it takes the row over and sends); a
//! row that disappears (the first failed) is claimed again. Expired rows
//! are taken over by the next call and swept every minute.
//!
//! **Bound during a database outage:** each database call waits at most
//! [`SHARED_LIMIT`]; when it fails, that call is recognised by this
//! instance only and sent, so a retry that lands on another instance while
//! the database is away may be texted again (at most once per instance).

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use phonehook_plugin_api::crypto::HmacKey;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use tokio_postgres::Row;
use tokio_util::sync::CancellationToken;

use crate::store::{Postgres, Shared, StoreError};

mod answer;

pub use answer::Stored;

/// How long a call waits for the shared store before it goes on alone.
pub const SHARED_LIMIT: Duration = Duration::from_millis(250);

/// How often a repeat looks whether the first call has answered.
pub const POLL: Duration = Duration::from_millis(25);

/// Beyond the failover deadline, before a pending first call is taken to be
/// gone (it answers by its deadline, and storing the answer takes a moment).
const PENDING_GRACE: Duration = Duration::from_secs(1);

/// How often expired rows are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The database's clock in Unix milliseconds: every instance compares ages
/// on one clock.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

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

/// One message's answer, set once by whichever call sends it; the others
/// wait on it (`OnceCell::get_or_init` runs one initialiser at a time, so a
/// repeat that arrives while the first is in flight waits for it).
pub type Cell = Arc<OnceCell<Stored>>;

/// A call's key: the local map's, and with a shared store the shared
/// table's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    local: u64,
    shared: Option<[u8; 32]>,
}

/// What [`Idempotency::begin`] found.
#[derive(Debug)]
pub enum Begin {
    /// This call sends, and hands its answer to [`Idempotency::finish`].
    Send(Claim),
    /// Another instance's call answered this message: repeat its answer.
    Replay(Stored),
}

/// The right to send a message, and where its answer goes.
#[derive(Debug)]
pub struct Claim {
    row: Option<([u8; 32], i64)>,
}

/// The store of recent answers.
pub struct Idempotency {
    config: IdempotencyConfig,
    keys: std::collections::hash_map::RandomState,
    inner: Mutex<Inner>,
    shared: Option<SharedCalls>,
    stop: CancellationToken,
}

/// The shared table, and how to name a call in it.
struct SharedCalls {
    pg: Postgres,
    mac: HmacKey,
    /// How long a first call may be pending before a repeat takes over.
    pending_ms: i64,
    window_ms: i64,
}

impl Drop for Idempotency {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What one look at the shared row found.
enum Look {
    Won,
    Done(Stored),
    Pending,
    Gone,
}

#[derive(Default)]
struct Inner {
    cells: HashMap<u64, Cell>,
    order: VecDeque<(Instant, u64)>,
}

impl Idempotency {
    /// A store with these settings; with `shared`, calls are recognised
    /// across instances, a repeat waiting for a pending first call until
    /// `first_call_deadline` (the failover deadline) has passed. Starts the
    /// sweep of the shared table on the current Tokio runtime.
    pub fn new(
        config: &IdempotencyConfig,
        shared: Option<Shared>,
        first_call_deadline: Duration,
    ) -> Idempotency {
        let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let shared = shared.filter(|_| config.enabled).map(|Shared { pg, key }| {
            // Derived, so an idempotency key is never a recipient hash.
            let derived = key.digest("phonehook idempotency keys");
            SharedCalls {
                pg,
                mac: HmacKey::new(&derived),
                pending_ms: millis(first_call_deadline + PENDING_GRACE),
                window_ms: millis(Duration::from_secs(config.window_secs)),
            }
        });
        let store = Idempotency {
            config: config.clone(),
            keys: std::collections::hash_map::RandomState::new(),
            inner: Mutex::new(Inner::default()),
            shared,
            stop: CancellationToken::new(),
        };
        if let Some(shared) = &store.shared {
            store.sweep_every_minute(shared);
        }
        store
    }

    fn sweep_every_minute(&self, shared: &SharedCalls) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(
                "no async runtime: this instance does not sweep expired idempotency keys"
            );
            return;
        };
        let (pg, window_ms, pending_ms) = (shared.pg.clone(), shared.window_ms, shared.pending_ms);
        let stop = self.stop.clone();
        runtime.spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = every.tick() => {
                        if let Err(e) = sweep(&pg, window_ms, pending_ms).await {
                            tracing::debug!(error = %e, "expired idempotency keys were not swept");
                        }
                    }
                }
            }
        });
    }

    /// The key of a call: its `Idempotency-Key` (per route), else what makes
    /// two calls the same message.
    pub fn key(
        &self,
        route: &str,
        header: Option<&str>,
        message: &phonehook_plugin_api::Message,
    ) -> Key {
        let secret = if message.code.is_empty() {
            message.text.as_str()
        } else {
            message.code.as_str()
        };
        if let Some(shared) = &self.shared {
            // Each part with its length, so no two calls run together alike.
            let parts: &[&str] = match header {
                Some(key) => &["header", route, key],
                None => &[
                    "message",
                    message.recipient.as_str(),
                    secret,
                    message.channel.as_str(),
                    message.action.as_str(),
                ],
            };
            let mut data = Vec::with_capacity(parts.iter().map(|p| p.len() + 8).sum());
            for part in parts {
                data.extend_from_slice(&(part.len() as u64).to_be_bytes());
                data.extend_from_slice(part.as_bytes());
            }
            let digest = shared.mac.mac(&data);
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            return Key {
                local: u64::from_be_bytes(first),
                shared: Some(digest),
            };
        }
        let local = match header {
            Some(key) => self.keys.hash_one(("header", route, key)),
            None => self.keys.hash_one((
                "message",
                message.recipient.as_str(),
                secret,
                message.channel.as_str(),
                message.action.as_str(),
            )),
        };
        Key {
            local,
            shared: None,
        }
    }

    /// Whether repeats are recognised at all.
    pub fn is_enabled(&self) -> bool {
        self.config.enabled
    }

    /// The cell for `key` (none when the store is off): new for the first
    /// call within the window, shared with it for a repeat.
    pub fn claim(&self, key: &Key) -> Option<Cell> {
        let key = key.local;
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
    pub fn settle(&self, key: &Key, cell: &Cell) {
        let key = key.local;
        if cell.get().is_some_and(|a| a.status() == 200) {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.cells.get(&key).is_some_and(|c| Arc::ptr_eq(c, cell)) {
            inner.cells.remove(&key);
        }
    }

    /// Run by the one call per instance that holds a new cell: whether it
    /// sends, or another instance's answer is to be repeated. Without a
    /// shared store, or when the store does not answer within
    /// [`SHARED_LIMIT`], it sends.
    pub async fn begin(&self, key: &Key) -> Begin {
        let (Some(shared), Some(digest)) = (&self.shared, key.shared) else {
            return Begin::Send(Claim { row: None });
        };
        let owner: i64 = rand::random();
        // Ages are judged on the database's clock; this is only a backstop
        // against a clock that never lets the first call's row age.
        let give_up = Instant::now()
            + Duration::from_millis(u64::try_from(shared.pending_ms).unwrap_or(u64::MAX))
            + PENDING_GRACE;
        loop {
            match shared.look(&digest, owner).await {
                Ok(Look::Won) => {
                    return Begin::Send(Claim {
                        row: Some((digest, owner)),
                    })
                }
                Ok(Look::Done(stored)) => return Begin::Replay(stored),
                // The first call failed and dropped its row: claim it.
                Ok(Look::Gone) if Instant::now() < give_up => continue,
                Ok(Look::Pending) if Instant::now() < give_up => tokio::time::sleep(POLL).await,
                Ok(Look::Pending | Look::Gone) => {
                    tracing::warn!("a call's first attempt on another instance is still pending past its deadline; sending");
                    return Begin::Send(Claim { row: None });
                }
                // Reported to the store's health; this instance goes on alone.
                Err(_) => return Begin::Send(Claim { row: None }),
            }
        }
    }

    /// After the claimed call's answer: a delivery is stored for repeats on
    /// every instance; any other answer frees the key (a retry sends).
    pub async fn finish(&self, claim: Claim, answer: &Stored) {
        let (Some(shared), Some((key, owner))) = (&self.shared, claim.row) else {
            return;
        };
        let key = key.as_slice();
        let result = shared
            .pg
            .within("idempotency answer", SHARED_LIMIT, |client| async move {
                if answer.status() == 200 {
                    let headers = serde_json::to_value(header_pairs(answer))
                        .unwrap_or(serde_json::Value::Null);
                    let body = answer.body();
                    client
                        .execute(
                            "UPDATE idempotency SET state = 'done', status = $3, headers = $4, body = $5
                             WHERE key = $1 AND owner = $2",
                            &[&key, &owner, &i32::from(answer.status()), &headers, &body.as_ref()],
                        )
                        .await?;
                } else {
                    client
                        .execute(
                            "DELETE FROM idempotency WHERE key = $1 AND owner = $2",
                            &[&key, &owner],
                        )
                        .await?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "a call's answer was not stored for repeats on other instances; they send after its deadline");
        }
    }
}

impl SharedCalls {
    /// Claims the key's row (new, or taken over once expired), or says what
    /// holds it.
    async fn look(&self, digest: &[u8; 32], owner: i64) -> Result<Look, StoreError> {
        let key = digest.as_slice();
        let (window_ms, pending_ms) = (self.window_ms, self.pending_ms);
        self.pg
            .within("idempotency claim", SHARED_LIMIT, |client| async move {
                let won = client
                    .query_opt(
                        &format!(
                            "INSERT INTO idempotency AS i (key, owner, created_ms, state)
                             VALUES ($1, $2, {NOW_MS}, 'pending')
                             ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner,
                                created_ms = EXCLUDED.created_ms, state = 'pending',
                                status = NULL, headers = NULL, body = NULL
                             WHERE (i.state = 'done' AND i.created_ms <= EXCLUDED.created_ms - $3)
                                OR (i.state = 'pending' AND i.created_ms <= EXCLUDED.created_ms - $4)
                             RETURNING owner"
                        ),
                        &[&key, &owner, &window_ms, &pending_ms],
                    )
                    .await?;
                if won.is_some() {
                    return Ok(Look::Won);
                }
                let row = client
                    .query_opt(
                        "SELECT state, status, headers, body FROM idempotency WHERE key = $1",
                        &[&key],
                    )
                    .await?;
                Ok(match row {
                    None => Look::Gone,
                    Some(row) => match stored_of(&row)? {
                        Some(stored) => Look::Done(stored),
                        None => Look::Pending,
                    },
                })
            })
            .await
    }
}

/// A `done` row's answer (none while pending).
fn stored_of(row: &Row) -> Result<Option<Stored>, StoreError> {
    let state: &str = row.try_get(0)?;
    if state != "done" {
        return Ok(None);
    }
    let status: i32 = row.try_get(1)?;
    let headers: Option<serde_json::Value> = row.try_get(2)?;
    let body: Option<Vec<u8>> = row.try_get(3)?;
    // Written by `finish` as pairs; anything else repeats without them.
    let headers = headers
        .and_then(|h| serde_json::from_value::<Vec<(String, String)>>(h).ok())
        .map(typed_headers)
        .unwrap_or_default();
    Ok(Some(Stored::new(
        u16::try_from(status).unwrap_or(500),
        headers.iter().map(|(name, value)| (name, value)),
        &body.unwrap_or_default(),
    )))
}

/// Headers as the shared table keeps them: `[name, value]` pairs of text
/// (a value that is not visible ASCII, which phonehook's own are, is left
/// out).
fn header_pairs(answer: &Stored) -> Vec<(String, String)> {
    answer
        .headers()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect()
}

/// [`header_pairs`] read back; a pair that is not a valid header is skipped.
fn typed_headers(pairs: Vec<(String, String)>) -> Vec<(http::HeaderName, http::HeaderValue)> {
    pairs
        .into_iter()
        .filter_map(|(name, value)| {
            Some((
                http::HeaderName::from_bytes(name.as_bytes()).ok()?,
                http::HeaderValue::from_str(&value).ok()?,
            ))
        })
        .collect()
}

/// Deletes what no call needs: answers older than the window, pending rows
/// past their first call's deadline.
async fn sweep(pg: &Postgres, window_ms: i64, pending_ms: i64) -> Result<u64, StoreError> {
    pg.within(
        "idempotency sweep",
        Duration::from_secs(2),
        |client| async move {
            Ok(client
                .execute(
                    &format!(
                        "DELETE FROM idempotency
                     WHERE (state = 'done' AND created_ms <= {NOW_MS} - $1)
                        OR (state = 'pending' AND created_ms <= {NOW_MS} - $2)"
                    ),
                    &[&window_ms, &pending_ms],
                )
                .await?)
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::Message;

    fn answer(status: u16) -> Stored {
        Stored::new(status, [], b"{}")
    }

    #[tokio::test]
    async fn a_repeat_gets_the_first_delivery_and_a_failure_is_not_kept() {
        let store = Idempotency::new(&IdempotencyConfig::default(), None, Duration::ZERO);
        let m = Message::new("+14155550100", "Your code is 123456").with_code("123456");
        let other = Message::new("+14155550100", "Your code is 654321").with_code("654321");
        let key = store.key("hook", None, &m);
        assert_ne!(
            key,
            store.key("hook", None, &other),
            "another code is another message"
        );
        assert_ne!(key, store.key("hook", Some("k1"), &m));
        let first = store.claim(&key).expect("on");
        first.get_or_init(|| async { answer(200) }).await;
        store.settle(&key, &first);
        let repeat = store.claim(&key).expect("on");
        assert!(
            Arc::ptr_eq(&first, &repeat),
            "a repeat shares the first answer"
        );

        let failing = store.key("hook", None, &other);
        let cell = store.claim(&failing).expect("on");
        cell.get_or_init(|| async { answer(502) }).await;
        store.settle(&failing, &cell);
        let retry = store.claim(&failing).expect("on");
        assert!(retry.get().is_none(), "a retry after a failure sends");
    }

    #[test]
    fn entries_expire_with_their_window_and_off_means_off() {
        let store = Idempotency::new(
            &IdempotencyConfig {
                window_secs: 0,
                ..IdempotencyConfig::default()
            },
            None,
            Duration::ZERO,
        );
        let m = Message::new("+14155550100", "Your code is 123456");
        let key = store.key("hook", None, &m);
        let first = store.claim(&key).expect("on");
        let _ = first.set(answer(200));
        let again = store.claim(&key).expect("on");
        assert!(!Arc::ptr_eq(&first, &again), "expired");
        let off = Idempotency::new(
            &IdempotencyConfig {
                enabled: false,
                ..IdempotencyConfig::default()
            },
            None,
            Duration::ZERO,
        );
        assert!(off.claim(&key).is_none());
    }
}
