//! The abuse guard: stops SMS pumping and toll fraud after validation and
//! before any plugin, on every send route (the runner too, unless the admin
//! asks to skip it).
//!
//! In order, for one message: a safe-listed number passes untouched; the
//! destination policy (countries, number types) may refuse it outright; then
//! the number's backoff and the counting rules (per number, caller address,
//! number prefix, country) admit it — all counted together or none. In
//! monitor mode every rule is evaluated and counted, and what would have
//! been refused is reported, but nothing is refused.
//!
//! **Architecture Invariant:** the guard decides; it does not answer or
//! record. `api::screen` turns a [`Verdict`] into the 429/403 answer, the
//! delivery-log event and the metric, so a refusal is described in one place.
//!
//! Counters live behind [`counters::CounterStore`] (memory); the safe
//! list and backoffs are kept across restarts in the delivery log's database
//! ([`crate::deliverylog::guard_state`]), written off the send path.
//!
//! **With a shared store** (`store = "postgres://…"`, [`crate::store::Shared`])
//! every instance decides in the same database ([`shared`]): the limits per
//! number, caller network, prefix and country and the number's backoff are
//! one transaction over the message's counter rows, decided by the same
//! code as in memory ([`counters::decide`]), so a limit of N admits at most
//! N in all, whichever instances the messages reach. Keys are keyed hashes
//! with the shared recipient-hash key, so every instance names a value by
//! the same row. Backoffs live in those rows (no SQLite copy); the safe
//! list's API entries are a table every instance re-reads when one changes
//! it (`Topic::SafeList`), when its listener reconnects and when it fell
//! behind the notifications. Expired rows are swept every minute.
//!
//! **Bound during a database outage:** a screen waits at most
//! [`shared::ADMISSION_LIMIT`] for the database; when it fails or is slow,
//! that message is decided by this instance's memory counters and sent
//! (the store's health reports it). Limits then hold per instance: with K
//! instances up to K × N messages may pass a limit of N in one window
//! (plus what the database had already counted), and a backoff begun in the
//! database is not seen by memory. The safe list stays as last read.

pub mod caller;
pub mod config;
pub mod counters;
pub mod destination;
mod persist;
mod recent;
pub mod safelist;
pub mod shared;

use std::fmt::Display;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Arc;

use phonehook_plugin_api::Message;
use phonenumber::country::Id;
use serde::{Deserialize, Serialize};

pub use config::{BackoffConfig, GuardConfig, GuardConfigError, GuardMode, Limit};
use counters::{Admission, BackoffState, Check, CounterStore, MemoryStore, Outcome, Usage};
use destination::{Destination, NumberKind};
use safelist::{Entry, EntryError, SafeList};

use crate::deliverylog::{DeliveryLog, RecipientHasher};
use crate::store::{Postgres, Shared, StoreError};

/// A rule of the guard, by the name answers, events and metrics use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Messages per destination number.
    PerNumber,
    /// Messages per caller address.
    PerIp,
    /// Messages per number prefix.
    PerPrefix,
    /// Messages per destination country.
    PerCountry,
    /// The wait after a burst to one number.
    Backoff,
    /// The country policy.
    Country,
    /// The number-type policy.
    NumberType,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 7] = [
        Rule::PerNumber,
        Rule::PerIp,
        Rule::PerPrefix,
        Rule::PerCountry,
        Rule::Backoff,
        Rule::Country,
        Rule::NumberType,
    ];

    /// `per_number`, `backoff`, `country`...
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::PerNumber => "per_number",
            Rule::PerIp => "per_ip",
            Rule::PerPrefix => "per_prefix",
            Rule::PerCountry => "per_country",
            Rule::Backoff => "backoff",
            Rule::Country => "country",
            Rule::NumberType => "number_type",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Why the guard refuses a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Too many messages: try again later.
    RateLimited {
        /// The rule.
        rule: Rule,
        /// Seconds until the message would pass.
        retry_after_secs: u64,
    },
    /// Messages to this destination are not sent at all.
    DestinationBlocked {
        /// [`Rule::Country`] or [`Rule::NumberType`].
        rule: Rule,
        /// What about the destination, for people (`premium-rate number`,
        /// `country RU is denied`).
        reason: String,
    },
}

impl Refusal {
    /// The rule that refused.
    pub fn rule(&self) -> Rule {
        match self {
            Refusal::RateLimited { rule, .. } | Refusal::DestinationBlocked { rule, .. } => *rule,
        }
    }

    /// The API's error code: `rate_limited` or `destination_blocked`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::RateLimited { .. } => "rate_limited",
            Refusal::DestinationBlocked { .. } => "destination_blocked",
        }
    }

    /// What happened, for people. Says nothing of other keys' counts.
    pub fn message(&self) -> String {
        match self {
            Refusal::RateLimited {
                rule,
                retry_after_secs,
            } => {
                let what = match rule {
                    Rule::PerNumber => "too many messages to this number",
                    Rule::PerIp => "too many messages from this address",
                    Rule::PerPrefix => "too many messages to this number range",
                    Rule::PerCountry => "too many messages to this country",
                    Rule::Backoff => "messages to this number must wait after a burst",
                    Rule::Country | Rule::NumberType => "too many messages",
                };
                format!("{what}; try again in {retry_after_secs} s")
            }
            Refusal::DestinationBlocked { reason, .. } => {
                format!("messages to this destination are blocked: {reason}")
            }
        }
    }
}

/// What the guard decided for one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Pass,
    /// Refuse it.
    Refuse(Refusal),
    /// Monitor mode: send it, and record that this would have refused it.
    WouldRefuse(Refusal),
}

/// One number's state, for the admin API. Only this number's.
#[derive(Clone, Debug, Serialize)]
pub struct NumberStatus {
    /// The number, masked.
    pub number: String,
    /// Whether the safe list covers it.
    pub safe_listed: bool,
    /// Its country, when known.
    pub country: Option<String>,
    /// Its kind of line.
    pub number_type: &'static str,
    /// Whether the destination policy refuses it, and why.
    pub blocked: Option<String>,
    /// Messages to it in the current window, and the limit.
    pub per_number: Option<Counter>,
    /// Its backoff, when it is in one.
    pub backoff: Option<BackoffView>,
    /// Where `per_number` and `backoff` were read.
    pub counted_by: CountedBy,
}

/// Where a number's counter and backoff were read, so an admin looking at
/// them during a shared-store outage knows they are one instance's view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountedBy {
    /// This instance's memory: there is no shared store.
    ThisInstance,
    /// The shared store, as every instance counts.
    SharedStore,
    /// This instance's memory, because the shared store did not answer:
    /// what this instance decides by until it returns.
    ThisInstanceStoreUnreachable,
}

impl CountedBy {
    /// What an admin is told, in the console and by the CLI.
    pub fn describe(self) -> &'static str {
        match self {
            CountedBy::ThisInstance => "this instance",
            CountedBy::SharedStore => "the shared store, for every instance",
            CountedBy::ThisInstanceStoreUnreachable => {
                "this instance only: the shared store did not answer, and this instance decides by its own counts until it does"
            }
        }
    }
}

/// A counter as the API shows it.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Counter {
    /// Counted in the current window.
    pub count: u32,
    /// The limit.
    pub limit: u32,
    /// Seconds until the window ends.
    pub resets_in_secs: u64,
}

/// A backoff as the API shows it.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct BackoffView {
    /// Messages in the current burst.
    pub sends: u32,
    /// Seconds until the next message may go (0: now).
    pub next_in_secs: u64,
}

/// The abuse guard.
pub struct Guard {
    config: GuardConfig,
    allow: Vec<Id>,
    deny: Vec<Id>,
    store: Box<dyn CounterStore>,
    destinations: destination::Memo,
    safe: Arc<SafeList>,
    numbers: RecipientHasher,
    keys: Keys,
    recent: recent::Recent,
    persist: persist::Persister,
    /// The shared store, when the counters and the safe list live there.
    pg: Option<Postgres>,
    /// How many times the shared safe list was read.
    reloads: Arc<tokio::sync::watch::Sender<u64>>,
    /// How long a screen waits for the shared store's admission.
    admission_limit: std::time::Duration,
    /// Stops the shared store's background task with the guard.
    stop: tokio_util::sync::CancellationToken,
}

/// How the keys of the rules other than the number are made.
enum Keys {
    /// This process's own hash: fast, and meaningless to another process.
    Local(std::collections::hash_map::RandomState),
    /// The shared recipient-hash key's HMAC of the rule and the value, the
    /// same on every instance.
    Shared,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Why an admin change to the guard was not made.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The entry is refused.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// The shared store did not take the change.
    #[error("the shared store did not take the change: {0}")]
    Store(#[from] StoreError),
    /// The blocking write to the log's database did not finish.
    #[error("the safe list's write did not finish: {0}")]
    Interrupted(#[from] tokio::task::JoinError),
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("enabled", &self.config.enabled)
            .field("mode", &self.config.mode)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// The guard for `config` (validated with the rest of the configuration),
    /// with the safe list and backoffs `log`'s database kept — or, with
    /// `shared`, counting in the shared database and reading its safe list
    /// (a task that follows the store's notifications and sweeps expired
    /// counters, started on the current Tokio runtime). Blocking (two small
    /// reads, without `shared`); says at start what an operator should know:
    /// the guard is off, or no country policy is set.
    pub fn start(config: &GuardConfig, log: &DeliveryLog, shared: Option<Shared>) -> Guard {
        let regions = |codes: &[String]| -> Vec<Id> {
            codes
                .iter()
                .filter_map(|c| crate::e164::region(c))
                .collect()
        };
        let (numbers, keys, pg, persist) = match shared {
            // Backoffs live in the shared counters: nothing to keep locally.
            Some(Shared { pg, key }) => (
                key,
                Keys::Shared,
                Some(pg),
                persist::Persister::off(log.clone()),
            ),
            None => (
                log.hasher().clone(),
                Keys::Local(std::collections::hash_map::RandomState::new()),
                None,
                persist::Persister::start(log.clone()),
            ),
        };
        let guard = Guard {
            allow: regions(&config.allow_countries),
            deny: regions(&config.deny_countries),
            store: Box::new(MemoryStore::new(config.max_tracked_keys)),
            destinations: destination::Memo::new(DESTINATION_MEMO),
            safe: Arc::new(SafeList::new(&config.safe_list)),
            numbers,
            keys,
            recent: recent::Recent::default(),
            persist,
            pg,
            reloads: Arc::new(tokio::sync::watch::channel(0).0),
            admission_limit: shared::ADMISSION_LIMIT,
            stop: tokio_util::sync::CancellationToken::new(),
            config: config.clone(),
        };
        if !config.enabled {
            tracing::warn!("the abuse guard is off (guard.enabled = false): every valid number is sent to the vendor");
            return guard;
        }
        match &guard.pg {
            Some(pg) => guard.follow(pg.clone()),
            None => guard.restore(),
        }
        if config.allow_countries.is_empty() && config.deny_countries.is_empty() {
            tracing::info!(
                "no country policy (guard.allow_countries / guard.deny_countries): messages may go to any country; SMS pumping aims at countries a service does not serve, so list yours"
            );
        }
        if config.mode == GuardMode::Monitor {
            tracing::warn!("the abuse guard is in monitor mode: it records what it would refuse and refuses nothing");
        }
        guard
    }

    /// Starts the task that keeps the safe list as the shared store holds it
    /// and sweeps the shared counters.
    fn follow(&self, pg: Postgres) {
        let task = shared::Follow {
            pg,
            safe: self.safe.clone(),
            reloads: self.reloads.clone(),
            quiet_secs: self.config.backoff.quiet_secs,
            stop: self.stop.clone(),
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(task.run());
            }
            Err(e) => {
                tracing::warn!(error = %e, "no async runtime: the shared safe list is read only on an admin edit, and expired counters are not swept by this instance");
            }
        }
    }

    /// Reads the shared safe list now (what the background task does on a
    /// notification); without a shared store, nothing to read.
    pub async fn reload_safe_list(&self) -> Result<(), StoreError> {
        let Some(pg) = &self.pg else { return Ok(()) };
        shared::reload(pg, &self.safe).await?;
        self.reloads.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Counts the reads of the shared safe list (by the background task or
    /// [`Guard::reload_safe_list`]): a change says a read has finished.
    pub fn safe_list_reads(&self) -> tokio::sync::watch::Receiver<u64> {
        self.reloads.subscribe()
    }

    /// Waits up to `limit` (instead of [`shared::ADMISSION_LIMIT`]) for the
    /// shared store's admission before deciding in memory: a test that must
    /// not fall back on a loaded machine, or a fleet whose database is far.
    pub fn with_admission_limit(mut self, limit: std::time::Duration) -> Guard {
        self.admission_limit = limit;
        self
    }

    /// Whether the counters and the safe list are shared with other instances.
    pub fn is_shared(&self) -> bool {
        self.pg.is_some()
    }

    fn restore(&self) {
        let Some(stored) = self.persist.load(self.config.backoff.quiet_secs) else {
            return;
        };
        let entries = stored.safe_list.into_iter().map(|e| Entry {
            entry: e.entry,
            note: e.note,
            added_ms: e.added_ms,
            source: safelist::EntrySource::Api,
        });
        for entry in entries {
            if let Err(e) = self.safe.add(std::slice::from_ref(&entry)) {
                tracing::warn!(error = %e, "a stored safe-list entry is not applied");
            }
        }
        for b in stored.backoffs {
            if let Some(key) = key_of_hash(&b.recipient_hash) {
                self.store.restore_backoff(
                    key,
                    BackoffState {
                        sends: b.sends,
                        last_s: ms_to_s(b.last_ms),
                        next_s: ms_to_s(b.next_ms),
                    },
                );
            }
        }
    }

    /// Whether the guard runs at all.
    pub fn is_enabled(&self) -> bool {
        self.config.enabled
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// The safe list.
    pub fn safe_list(&self) -> &SafeList {
        &self.safe
    }

    /// Decides for `message`, from a caller at `peer` (used when the payload
    /// names no address), at `now_ms` (Unix milliseconds).
    /// With a shared store the counting is a database transaction (bounded
    /// by [`shared::ADMISSION_LIMIT`]; on failure this instance's memory
    /// decides).
    pub async fn screen(&self, message: &Message, peer: Option<IpAddr>, now_ms: i64) -> Verdict {
        if !self.config.enabled {
            return Verdict::Pass;
        }
        let number = message.recipient.as_str();
        if self.safe.covers(number) {
            return Verdict::Pass;
        }
        let enforce = self.config.mode == GuardMode::Enforce;
        let number_key = self.number_key(number);
        // A tracked number keeps its class with its counters; the memo
        // covers numbers the counters do not keep.
        let destination = match self.store.class(number_key) {
            Some(known) => known,
            None => self.destinations.classify(number_key, number),
        };
        let mut would = None;
        if let Some(refusal) = self.destination_refusal(&destination) {
            if enforce {
                return self.refuse(refusal, now_ms);
            }
            would = Some(refusal);
        }
        let ip = caller::network(message.ip.as_str(), peer, self.config.ipv6_prefix_len);
        let checks = self.checks(number, number_key, ip, destination.region);
        let admission = Admission {
            checks: &checks,
            number: number_key,
            backoff: self.config.backoff,
            jitter: rand::random::<f64>(),
            class: destination,
        };
        let now_s = ms_to_s(now_ms);
        let outcome = match &self.pg {
            None => self.count_here(&admission, now_s, enforce),
            Some(pg) => {
                match shared::admit(pg, self.admission_limit, &admission, now_s, !enforce).await {
                    Ok(outcome) => outcome,
                    // Reported to the store's health by `within`; this message
                    // is decided here, so sending goes on.
                    Err(_) => self.count_here(&admission, now_s, enforce),
                }
            }
        };
        // Monitor mode counts every message; enforce mode only admitted ones.
        let counted = !enforce || outcome.refused.is_none();
        if let (true, Some(state)) = (counted, outcome.backoff) {
            self.persist.backoff(&self.numbers, number, state);
        }
        if let Some(refused) = outcome.refused {
            let refusal = Refusal::RateLimited {
                rule: refused.rule,
                retry_after_secs: refused.retry_after_secs.max(1),
            };
            if enforce {
                return self.refuse(refusal, now_ms);
            }
            would.get_or_insert(refusal);
        }
        match would {
            Some(refusal) => {
                self.recent.record(refusal.rule(), ms_to_s(now_ms));
                crate::metrics::guard_blocked(refusal.rule().as_str(), "monitor");
                Verdict::WouldRefuse(refusal)
            }
            None => Verdict::Pass,
        }
    }

    fn count_here(&self, admission: &Admission<'_>, now_s: u64, enforce: bool) -> Outcome {
        if enforce {
            self.store.admit(admission, now_s)
        } else {
            self.store.count(admission, now_s)
        }
    }

    fn refuse(&self, refusal: Refusal, now_ms: i64) -> Verdict {
        self.recent.record(refusal.rule(), ms_to_s(now_ms));
        crate::metrics::guard_blocked(refusal.rule().as_str(), "enforce");
        Verdict::Refuse(refusal)
    }

    fn destination_refusal(&self, d: &Destination) -> Option<Refusal> {
        let blocked = |reason: String, rule| Refusal::DestinationBlocked { rule, reason };
        if self.config.block_number_types.contains(&d.kind) {
            let kind = d.kind.as_str().replace('_', "-");
            return Some(blocked(format!("{kind} number"), Rule::NumberType));
        }
        match d.region {
            Some(region) if self.deny.contains(&region) => Some(blocked(
                format!("country {} is denied", region.as_ref()),
                Rule::Country,
            )),
            Some(region) if !self.allow.is_empty() && !self.allow.contains(&region) => {
                Some(blocked(
                    format!("country {} is not allowed", region.as_ref()),
                    Rule::Country,
                ))
            }
            None if !self.allow.is_empty() => Some(blocked(
                "the number's country cannot be told, and only listed countries are allowed"
                    .to_owned(),
                Rule::Country,
            )),
            _ => None,
        }
    }

    /// The counting rules that are on, most specific first.
    fn checks(
        &self,
        number: &str,
        number_key: u64,
        ip: Option<IpAddr>,
        region: Option<Id>,
    ) -> Vec<Check> {
        let c = &self.config;
        let mut checks = Vec::with_capacity(4);
        let mut add = |rule, key, limit: Limit| {
            if limit.is_on() {
                checks.push(Check { rule, key, limit });
            }
        };
        add(Rule::PerNumber, number_key, c.per_number);
        if let Some(ip) = ip {
            add(Rule::PerIp, self.key(Rule::PerIp, ip), c.per_ip);
        }
        add(
            Rule::PerPrefix,
            self.key(Rule::PerPrefix, self.prefix(number)),
            c.per_prefix,
        );
        if let Some(region) = region {
            add(
                Rule::PerCountry,
                self.key(Rule::PerCountry, region.as_ref()),
                c.per_country,
            );
        }
        checks
    }

    /// The key of `rule`'s counter for `value`.
    fn key(&self, rule: Rule, value: impl Hash + Display) -> u64 {
        match &self.keys {
            Keys::Local(hasher) => hasher.hash_one((rule, value)),
            // The rule's name first: no value of one rule names another's
            // row, nor a number's (those start with `+`).
            Keys::Shared => {
                key_of_digest(&self.numbers.digest(&format!("{}\0{value}", rule.as_str())))
            }
        }
    }

    /// The number without its last `prefix_hidden_digits` digits (at least
    /// `+` and one digit).
    fn prefix<'a>(&self, number: &'a str) -> &'a str {
        let hidden = usize::from(self.config.prefix_hidden_digits);
        let end = number.len().saturating_sub(hidden).max(2).min(number.len());
        number.get(..end).unwrap_or(number)
    }

    fn number_key(&self, number: &str) -> u64 {
        key_of_digest(&self.numbers.digest(number))
    }

    /// One number's state: its own counter and backoff, the destination
    /// policy's view of it. Nothing of any other number.
    /// With a shared store, as the database counts it; when the database
    /// does not answer, as this instance counted it (what it decides by
    /// until the database returns).
    pub async fn number_status(&self, number: &str, now_ms: i64) -> NumberStatus {
        let now_s = ms_to_s(now_ms);
        let key = self.number_key(number);
        let destination = destination::classify(number);
        let here = || {
            (
                self.store.usage(Rule::PerNumber, key, now_s),
                self.store.backoff(key, now_s, &self.config.backoff),
            )
        };
        let ((usage, backoff), counted_by) = match &self.pg {
            None => (here(), CountedBy::ThisInstance),
            Some(pg) => match shared::number_status(pg, key, now_s, &self.config.backoff).await {
                Ok(read) => (read, CountedBy::SharedStore),
                Err(_) => (here(), CountedBy::ThisInstanceStoreUnreachable),
            },
        };
        let per_number = usage.map(|u: Usage| Counter {
            count: u.count,
            limit: self.config.per_number.limit,
            resets_in_secs: u.resets_in_secs,
        });
        let backoff = backoff.map(|b| BackoffView {
            sends: b.sends,
            next_in_secs: b.next_s.saturating_sub(now_s),
        });
        NumberStatus {
            number: crate::mask::mask_number(number),
            safe_listed: self.safe.covers(number),
            country: destination.region.map(|r| r.as_ref().to_owned()),
            number_type: destination.kind.as_str(),
            blocked: self.destination_refusal(&destination).map(|r| r.message()),
            per_number,
            backoff,
            counted_by,
        }
    }

    /// Forgets one number's counter and backoff (support verified the user):
    /// here, in the stored backoffs, and in the shared store (for every
    /// instance) when there is one.
    pub async fn reset_number(&self, number: &str) -> Result<(), EditError> {
        let key = self.number_key(number);
        self.store.forget_number(key);
        match &self.pg {
            Some(pg) => shared::forget_number(pg, key).await?,
            // Queued for the writer thread: does not block.
            None => self.persist.forget_backoff(&self.numbers.hash(number)),
        }
        Ok(())
    }

    /// Adds safe-list entries, stored across restarts (with a shared store,
    /// for every instance).
    pub async fn allow(self: &Arc<Self>, entries: Vec<Entry>) -> Result<(), EditError> {
        let Some(pg) = &self.pg else {
            let guard = self.clone();
            return Ok(tokio::task::spawn_blocking(move || {
                guard.safe.add(&entries)?;
                guard.persist.safe_list(guard.safe.api_entries());
                Ok::<_, EntryError>(())
            })
            .await??);
        };
        self.safe.check_api_entries(&entries)?;
        shared::edit_safe_list(pg, shared::Edit::Add(&entries)).await?;
        self.after_shared_edit(pg).await;
        Ok(())
    }

    /// Removes a safe-list entry; whether it was there.
    pub async fn disallow(self: &Arc<Self>, entry: String) -> Result<bool, EditError> {
        let Some(pg) = &self.pg else {
            let guard = self.clone();
            return Ok(tokio::task::spawn_blocking(move || {
                let removed = guard.safe.remove(&entry)?;
                guard.persist.safe_list(guard.safe.api_entries());
                Ok::<_, EntryError>(removed)
            })
            .await??);
        };
        if self.safe.is_configured(&entry) {
            return Err(EntryError::Configured(entry).into());
        }
        let removed = shared::edit_safe_list(pg, shared::Edit::Remove(&entry)).await?;
        self.after_shared_edit(pg).await;
        Ok(removed)
    }

    /// Replaces every API safe-list entry.
    pub async fn replace_safe_list(self: &Arc<Self>, entries: Vec<Entry>) -> Result<(), EditError> {
        let Some(pg) = &self.pg else {
            let guard = self.clone();
            return Ok(tokio::task::spawn_blocking(move || {
                guard.safe.replace_api_entries(&entries)?;
                guard.persist.safe_list(guard.safe.api_entries());
                Ok::<_, EntryError>(())
            })
            .await??);
        };
        // As the memory list checks a replacement: nothing configured, and
        // no entry twice.
        let scratch = SafeList::new(&[]);
        scratch.replace_api_entries(&entries)?;
        self.safe.check_api_entries(&entries)?;
        shared::edit_safe_list(pg, shared::Edit::Replace(&entries)).await?;
        self.after_shared_edit(pg).await;
        Ok(())
    }

    /// After this instance changed the shared safe list: read it back, so
    /// the admin's next read here shows the change (with any other
    /// instance's), whether or not the notification comes back.
    async fn after_shared_edit(&self, pg: &Postgres) {
        match shared::reload(pg, &self.safe).await {
            Ok(()) => self.reloads.send_modify(|n| *n += 1),
            Err(e) => {
                tracing::warn!(error = %e, "the safe list was changed but not read back; this instance shows it after its next read");
            }
        }
    }

    /// Messages refused (or, in monitor mode, that would have been) per
    /// rule over the last hour.
    pub fn blocked_last_hour(&self, now_ms: i64) -> Vec<(Rule, u64)> {
        let counts = self.recent.last_hour(ms_to_s(now_ms));
        Rule::ALL
            .into_iter()
            .map(|rule| (rule, counts[rule.index()]))
            .collect()
    }

    /// Keys tracked now.
    pub fn tracked_keys(&self) -> usize {
        let keys = self.store.tracked();
        crate::metrics::guard_tracked(keys);
        keys
    }

    /// Whether the safe list and backoffs outlive a restart (the delivery
    /// log's database is on, or they live in the shared store).
    pub fn is_persistent(&self) -> bool {
        self.pg.is_some() || self.persist.is_on()
    }
}

/// Numbers whose country and kind are remembered (about 6 MiB): a user's
/// second code within the hour skips the metadata's regexes.
const DESTINATION_MEMO: usize = 262_144;

fn ms_to_s(ms: i64) -> u64 {
    u64::try_from(ms / 1000).unwrap_or(0)
}

fn key_of_digest(digest: &[u8; 32]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The key of a stored recipient hash (hex of the digest).
fn key_of_hash(hex: &str) -> Option<u64> {
    u64::from_str_radix(hex.get(..16)?, 16).ok()
}

/// Which kinds are refused, by name (for the API).
pub fn kind_names(kinds: &[NumberKind]) -> Vec<&'static str> {
    kinds.iter().map(|k| k.as_str()).collect()
}

#[cfg(test)]
mod tests;
