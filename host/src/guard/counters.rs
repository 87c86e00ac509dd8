//! The guard's counters behind one small interface, [`CounterStore`]: this
//! process's memory ([`MemoryStore`]). A shared database keeps the same
//! counters as rows and decides with the same code ([`decide`] over the
//! rows it locked), so limits hold across instances.
//!
//! Windows are anchored: a key's window starts with its first message and
//! lasts the rule's `window_secs`; at most `limit` messages pass in it. (Two
//! windows back to back can let `2 × limit` through in one window's length
//! — the price of one counter per key instead of one timestamp per message.)
//! Times are whole seconds, as `Retry-After` is.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use super::config::{BackoffConfig, Limit};
use super::destination::Destination;
use super::Rule;

/// One limit to check for one message: `rule`'s counter for `key`.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    /// The rule.
    pub rule: Rule,
    /// The counted value (a number, an address, a prefix, a country), as a
    /// keyed hash.
    pub key: u64,
    /// Its limit.
    pub limit: Limit,
}

/// A message the counters refuse (or, counted anyway, would have).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The rule that refuses.
    pub rule: Rule,
    /// Seconds until it would pass.
    pub retry_after_secs: u64,
}

/// One message to admit: the limits, and the number's backoff.
#[derive(Clone, Copy, Debug)]
pub struct Admission<'a> {
    /// The limits, most specific first (the first refusing one is reported).
    pub checks: &'a [Check],
    /// The destination number's key, for its backoff.
    pub number: u64,
    /// The backoff policy.
    pub backoff: BackoffConfig,
    /// A draw in `[0, 1)` for the backoff's jitter.
    pub jitter: f64,
    /// The number's country and kind, kept with its state.
    pub class: Destination,
}

/// A number's backoff after a message, for whoever keeps it across restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffState {
    /// Messages in the current burst.
    pub sends: u32,
    /// The last message, in Unix seconds.
    pub last_s: u64,
    /// When the next may go, in Unix seconds.
    pub next_s: u64,
}

/// What admitting did: the refusal (none when the message passes) and the
/// number's backoff when it is in one (to store).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Why the message is (or would be) refused.
    pub refused: Option<Refused>,
    /// The number's backoff, when it has waits to serve.
    pub backoff: Option<BackoffState>,
}

/// A counter's state, for the admin API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Messages counted in the current window.
    pub count: u32,
    /// Seconds until the window ends.
    pub resets_in_secs: u64,
}

/// The counters the guard needs; every call is atomic over all its keys.
pub trait CounterStore: Send + Sync {
    /// Counts the message against every check and the backoff when all have
    /// room (all or nothing); otherwise counts nothing and says which refused.
    fn admit(&self, admission: &Admission<'_>, now_s: u64) -> Outcome;
    /// Counts the message whatever the limits say (monitor mode: it is sent)
    /// and says what would have refused it.
    fn count(&self, admission: &Admission<'_>, now_s: u64) -> Outcome;
    /// One counter's state.
    fn usage(&self, rule: Rule, key: u64, now_s: u64) -> Option<Usage>;
    /// A tracked number's country and kind, as its last admission gave them.
    fn class(&self, number: u64) -> Option<Destination>;
    /// One number's backoff, when it has one.
    fn backoff(&self, number: u64, now_s: u64, policy: &BackoffConfig) -> Option<BackoffState>;
    /// Restores a stored backoff (at start).
    fn restore_backoff(&self, number: u64, state: BackoffState);
    /// Forgets one number's counter and backoff (an admin reset).
    fn forget_number(&self, number: u64);
    /// Keys tracked now.
    fn tracked(&self) -> usize;
}

/// Keys are keyed hashes already, so the maps use them as they are.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in so it still works.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Map<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

/// A window: when it ends and what it counted.
#[derive(Clone, Copy, Debug)]
struct Window {
    end_s: u32,
    count: u32,
}

/// A destination number: its window and its burst.
#[derive(Clone, Copy, Debug)]
struct NumberState {
    window: Window,
    sends: u32,
    last_s: u32,
    next_s: u32,
    /// The number's country and kind, kept with its counters so a number
    /// seen before is not classified again (two bytes, in what would be
    /// padding).
    class: Option<Destination>,
}

/// The counters in this process's memory, bounded by `max_keys`.
pub struct MemoryStore {
    max_keys: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    numbers: Map<NumberState>,
    /// The other rules' windows, keyed by a hash that includes the rule.
    others: Map<Window>,
    /// When expired keys were last swept, in Unix seconds.
    swept_s: u64,
}

/// How often expired keys are swept when the table is not full.
const SWEEP_EVERY_SECS: u64 = 60;

fn secs(s: u64) -> u32 {
    u32::try_from(s).unwrap_or(u32::MAX)
}

impl MemoryStore {
    /// A store that tracks at most `max_keys` keys.
    pub fn new(max_keys: usize) -> MemoryStore {
        MemoryStore {
            max_keys,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves counts that are still counts.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self, a: &Admission<'_>, now_s: u64, always: bool) -> Outcome {
        let mut inner = self.lock();
        inner.sweep_if_due(now_s, self.max_keys, a.backoff.quiet_secs);
        inner.decide(a, secs(now_s), always, self.max_keys).0
    }
}

/// One key's counters as a shared store keeps them: a row per key. The
/// destination number's row also holds its burst; the others' burst fields
/// stay zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Row {
    /// The key ([`Check::key`], or [`Admission::number`]).
    pub key: u64,
    /// When its window ends, in Unix seconds (0: none yet).
    pub window_end_s: u32,
    /// Counted in that window.
    pub count: u32,
    /// Messages in the number's current burst.
    pub sends: u32,
    /// The burst's last message, in Unix seconds.
    pub last_s: u32,
    /// When the number's next message may go, in Unix seconds.
    pub next_s: u32,
}

impl Row {
    /// A key nothing was counted for yet.
    pub fn empty(key: u64) -> Row {
        Row {
            key,
            window_end_s: 0,
            count: 0,
            sends: 0,
            last_s: 0,
            next_s: 0,
        }
    }
}

impl Row {
    /// The row's window, as the memory store keeps one.
    fn window(&self) -> Window {
        Window {
            end_s: self.window_end_s,
            count: self.count,
        }
    }

    /// The row as a number's state (its class is not stored).
    fn number_state(&self) -> NumberState {
        NumberState {
            window: self.window(),
            sends: self.sends,
            last_s: self.last_s,
            next_s: self.next_s,
            class: None,
        }
    }
}

/// Decides `a` over `rows` (read, and locked, from a shared store) with the
/// code [`MemoryStore`] runs, so one place decides: the rows become the
/// same maps, and the maps after the decision become the rows to write back
/// (`None` when nothing was counted). `always` is monitor mode's count.
pub(super) fn decide(
    a: &Admission<'_>,
    now_s: u64,
    always: bool,
    rows: &[Row],
) -> (Outcome, Option<Vec<Row>>) {
    let mut inner = Inner::default();
    for row in rows {
        if row.key == a.number {
            inner.numbers.insert(row.key, row.number_state());
        } else {
            inner.others.insert(row.key, row.window());
        }
    }
    // The database bounds nothing: every key is tracked.
    let (outcome, counted) = inner.decide(a, secs(now_s), always, usize::MAX);
    if !counted {
        return (outcome, None);
    }
    let numbers = inner.numbers.iter().map(|(&key, n)| Row {
        key,
        window_end_s: n.window.end_s,
        count: n.window.count,
        sends: n.sends,
        last_s: n.last_s,
        next_s: n.next_s,
    });
    let others = inner.others.iter().map(|(&key, w)| Row {
        window_end_s: w.end_s,
        count: w.count,
        ..Row::empty(key)
    });
    (outcome, Some(numbers.chain(others).collect()))
}

/// A number's counter and backoff as its shared row gives them, read as
/// [`MemoryStore::usage`] and [`MemoryStore::backoff`] read theirs.
pub(super) fn number_row_status(
    row: &Row,
    now_s: u64,
    policy: &BackoffConfig,
) -> (Option<Usage>, Option<BackoffState>) {
    let now = secs(now_s);
    let mut inner = Inner::default();
    inner.numbers.insert(row.key, row.number_state());
    (
        usage_of(row.window(), now),
        inner.backoff_of(row.key, now, policy),
    )
}

fn usage_of(window: Window, now: u32) -> Option<Usage> {
    (window.end_s > now).then(|| Usage {
        count: window.count,
        resets_in_secs: u64::from(window.end_s - now),
    })
}

impl Inner {
    /// The admission itself: refuses with the first refusing rule, else
    /// (or, with `always`, anyway) counts. Whether it counted.
    fn decide(
        &mut self,
        a: &Admission<'_>,
        now: u32,
        always: bool,
        max_keys: usize,
    ) -> (Outcome, bool) {
        let refused = self.first_refusal(a, now);
        if refused.is_some() && !always {
            let backoff = self.backoff_of(a.number, now, &a.backoff);
            return (Outcome { refused, backoff }, false);
        }
        let backoff = self.commit(a, now, max_keys);
        (Outcome { refused, backoff }, true)
    }

    fn len(&self) -> usize {
        self.numbers.len() + self.others.len()
    }

    fn sweep_if_due(&mut self, now_s: u64, max_keys: usize, quiet_secs: u64) {
        let full = self.len() >= max_keys;
        let due = now_s >= self.swept_s + SWEEP_EVERY_SECS;
        // When full, at most once a second: a table full of live keys would
        // otherwise be walked on every message.
        if due || (full && now_s > self.swept_s) {
            let now = secs(now_s);
            let quiet = secs(quiet_secs);
            // A number stays while its window runs or its burst has not
            // gone quiet (its backoff would otherwise be forgotten early).
            self.numbers.retain(|_, n| {
                n.window.end_s > now || (n.sends > 0 && n.last_s.saturating_add(quiet) > now)
            });
            self.others.retain(|_, w| w.end_s > now);
            self.swept_s = now_s;
        }
    }

    fn first_refusal(&self, a: &Admission<'_>, now: u32) -> Option<Refused> {
        if let Some(n) = self.numbers.get(&a.number) {
            if a.backoff.after > 0 && n.next_s > now && n.sends >= a.backoff.after {
                return Some(Refused {
                    rule: Rule::Backoff,
                    retry_after_secs: u64::from(n.next_s - now),
                });
            }
        }
        a.checks.iter().find_map(|c| {
            let window = match c.rule {
                Rule::PerNumber => self.numbers.get(&c.key).map(|n| n.window),
                _ => self.others.get(&c.key).copied(),
            }?;
            (window.end_s > now && window.count >= c.limit.limit).then(|| Refused {
                rule: c.rule,
                retry_after_secs: u64::from(window.end_s - now),
            })
        })
    }

    fn commit(&mut self, a: &Admission<'_>, now: u32, max_keys: usize) -> Option<BackoffState> {
        for c in a.checks.iter().filter(|c| c.rule != Rule::PerNumber) {
            let room = self.len() < max_keys;
            let window = match self.others.get_mut(&c.key) {
                Some(w) => w,
                None if room => self
                    .others
                    .entry(c.key)
                    .or_insert(Window { end_s: 0, count: 0 }),
                None => {
                    crate::metrics::guard_untracked();
                    continue;
                }
            };
            bump(window, c.limit, now);
        }
        let per_number = a.checks.iter().find(|c| c.rule == Rule::PerNumber);
        if per_number.is_none() && a.backoff.after == 0 {
            // Nothing to keep for the number.
            return None;
        }
        let room = self.len() < max_keys;
        let number = match self.numbers.get_mut(&a.number) {
            Some(n) => n,
            None if room => self.numbers.entry(a.number).or_insert(NumberState {
                window: Window { end_s: 0, count: 0 },
                sends: 0,
                last_s: 0,
                next_s: 0,
                class: None,
            }),
            None => {
                crate::metrics::guard_untracked();
                return None;
            }
        };
        if let Some(c) = per_number {
            bump(&mut number.window, c.limit, now);
        }
        number.class = Some(a.class);
        step_backoff(number, &a.backoff, now, a.jitter)
    }

    fn backoff_of(&self, number: u64, now: u32, policy: &BackoffConfig) -> Option<BackoffState> {
        let n = self.numbers.get(&number)?;
        let quiet = secs(policy.quiet_secs);
        (policy.after > 0 && n.sends >= policy.after && now < n.last_s.saturating_add(quiet)).then(
            || BackoffState {
                sends: n.sends,
                last_s: u64::from(n.last_s),
                next_s: u64::from(n.next_s),
            },
        )
    }
}

/// Counts one message in `window`, starting a new window when the old one
/// has ended.
fn bump(window: &mut Window, limit: Limit, now: u32) {
    if window.end_s <= now {
        *window = Window {
            end_s: now.saturating_add(secs(limit.window_secs)),
            count: 0,
        };
    }
    window.count = window.count.saturating_add(1);
}

/// Counts one message in the number's burst and sets the wait before the
/// next: none for the first `after` messages, then `base`, `2 × base`, ...
/// up to `max`, stretched by up to 20% jitter. A quiet period ends a burst.
fn step_backoff(
    n: &mut NumberState,
    policy: &BackoffConfig,
    now: u32,
    jitter: f64,
) -> Option<BackoffState> {
    if policy.after == 0 {
        return None;
    }
    if n.sends > 0 && now >= n.last_s.saturating_add(secs(policy.quiet_secs)) {
        n.sends = 0;
    }
    n.sends = n.sends.saturating_add(1);
    n.last_s = now;
    if n.sends < policy.after {
        n.next_s = now;
        return None;
    }
    let doublings = (n.sends - policy.after).min(32);
    let wait = policy
        .base_secs
        .saturating_mul(1u64 << doublings)
        .min(policy.max_secs);
    let stretched = (wait as f64 * (1.0 + 0.2 * jitter.clamp(0.0, 1.0))).round() as u64;
    n.next_s = now.saturating_add(secs(stretched.max(1)));
    Some(BackoffState {
        sends: n.sends,
        last_s: u64::from(n.last_s),
        next_s: u64::from(n.next_s),
    })
}

impl CounterStore for MemoryStore {
    fn admit(&self, admission: &Admission<'_>, now_s: u64) -> Outcome {
        self.run(admission, now_s, false)
    }

    fn count(&self, admission: &Admission<'_>, now_s: u64) -> Outcome {
        self.run(admission, now_s, true)
    }

    fn usage(&self, rule: Rule, key: u64, now_s: u64) -> Option<Usage> {
        let now = secs(now_s);
        let inner = self.lock();
        let window = match rule {
            Rule::PerNumber => inner.numbers.get(&key).map(|n| n.window),
            _ => inner.others.get(&key).copied(),
        }?;
        usage_of(window, now)
    }

    fn backoff(&self, number: u64, now_s: u64, policy: &BackoffConfig) -> Option<BackoffState> {
        self.lock().backoff_of(number, secs(now_s), policy)
    }

    fn restore_backoff(&self, number: u64, state: BackoffState) {
        let mut inner = self.lock();
        if inner.len() >= self.max_keys {
            return;
        }
        let n = inner.numbers.entry(number).or_insert(NumberState {
            window: Window { end_s: 0, count: 0 },
            sends: 0,
            last_s: 0,
            next_s: 0,
            class: None,
        });
        n.sends = state.sends;
        n.last_s = secs(state.last_s);
        n.next_s = secs(state.next_s);
    }

    fn class(&self, number: u64) -> Option<Destination> {
        self.lock().numbers.get(&number).and_then(|n| n.class)
    }

    fn forget_number(&self, number: u64) {
        self.lock().numbers.remove(&number);
    }

    fn tracked(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3600;

    use crate::guard::destination::NumberKind;

    const UNKNOWN: Destination = Destination {
        region: None,
        kind: NumberKind::Unknown,
    };

    fn limit(limit: u32, window_secs: u64) -> Limit {
        Limit { limit, window_secs }
    }

    fn no_backoff() -> BackoffConfig {
        BackoffConfig {
            after: 0,
            ..BackoffConfig::default()
        }
    }

    fn admission(checks: &[Check], number: u64, backoff: BackoffConfig) -> Admission<'_> {
        Admission {
            checks,
            number,
            backoff,
            jitter: 0.0,
            class: UNKNOWN,
        }
    }

    #[test]
    fn a_window_admits_its_limit_then_refuses_until_it_ends() {
        let store = MemoryStore::new(100);
        let checks = [Check {
            rule: Rule::PerIp,
            key: 7,
            limit: limit(3, 60),
        }];
        let a = admission(&checks, 1, no_backoff());
        for t in 0..3 {
            assert_eq!(store.admit(&a, 1000 + t).refused, None);
        }
        let refused = store.admit(&a, 1010).refused;
        assert_eq!(
            refused,
            Some(Refused {
                rule: Rule::PerIp,
                retry_after_secs: 50
            })
        );
        // The refused message was not counted; the window ends at 1060.
        assert_eq!(
            store.usage(Rule::PerIp, 7, 1010),
            Some(Usage {
                count: 3,
                resets_in_secs: 50
            })
        );
        assert_eq!(store.admit(&a, 1060).refused, None);
    }

    #[test]
    fn admission_is_all_or_nothing_and_monitor_counts_anyway() {
        let store = MemoryStore::new(100);
        let wide = Check {
            rule: Rule::PerPrefix,
            key: 1,
            limit: limit(10, HOUR),
        };
        let narrow = Check {
            rule: Rule::PerIp,
            key: 2,
            limit: limit(1, HOUR),
        };
        let checks = [wide, narrow];
        let a = admission(&checks, 9, no_backoff());
        assert_eq!(store.admit(&a, 0).refused, None);
        assert_eq!(
            store.admit(&a, 1).refused.map(|r| r.rule),
            Some(Rule::PerIp)
        );
        assert_eq!(store.usage(Rule::PerPrefix, 1, 1).map(|u| u.count), Some(1));
        assert_eq!(
            store.count(&a, 2).refused.map(|r| r.rule),
            Some(Rule::PerIp)
        );
        assert_eq!(store.usage(Rule::PerPrefix, 1, 2).map(|u| u.count), Some(2));
        assert_eq!(store.usage(Rule::PerIp, 2, 2).map(|u| u.count), Some(2));
    }

    #[test]
    fn backoff_waits_double_up_to_the_cap_and_reset_after_quiet() {
        let store = MemoryStore::new(100);
        let policy = BackoffConfig {
            after: 2,
            base_secs: 10,
            max_secs: 40,
            quiet_secs: 1000,
        };
        let a = admission(&[], 5, policy);
        let mut now = 0;
        let mut waits = Vec::new();
        for _ in 0..6 {
            let outcome = store.admit(&a, now);
            assert_eq!(outcome.refused, None, "at {now}");
            let wait = outcome.backoff.map(|b| b.next_s - now).unwrap_or(0);
            if wait > 0 {
                // One second early is refused, with the rest as Retry-After.
                let early = store.admit(&a, now + wait - 1).refused;
                assert_eq!(
                    early,
                    Some(Refused {
                        rule: Rule::Backoff,
                        retry_after_secs: 1
                    })
                );
            }
            waits.push(wait);
            now += wait;
        }
        assert_eq!(waits, [0, 10, 20, 40, 40, 40]);
        // A quiet period ends the burst: two free messages again.
        now += 1000;
        assert_eq!(store.admit(&a, now).backoff, None);
        assert_eq!(store.admit(&a, now).refused, None);
    }

    #[test]
    fn jitter_stretches_a_wait_by_at_most_a_fifth() {
        let store = MemoryStore::new(10);
        let policy = BackoffConfig {
            after: 1,
            base_secs: 100,
            max_secs: 100,
            quiet_secs: 1000,
        };
        let a = Admission {
            checks: &[],
            number: 1,
            backoff: policy,
            jitter: 0.999,
            class: UNKNOWN,
        };
        let next = store.admit(&a, 0).backoff.map(|b| b.next_s);
        assert_eq!(next, Some(120));
    }

    #[test]
    fn a_full_table_sweeps_expired_keys_and_otherwise_fails_open() {
        let store = MemoryStore::new(3);
        let check = |key| {
            [Check {
                rule: Rule::PerCountry,
                key,
                limit: limit(1, 10),
            }]
        };
        for key in 0..3 {
            let checks = check(key);
            assert_eq!(
                store
                    .admit(&admission(&checks, 100, no_backoff()), 0)
                    .refused,
                None
            );
        }
        assert_eq!(store.tracked(), 3);
        // Full of live keys: a new key passes untracked, again and again.
        let checks = check(50);
        for _ in 0..3 {
            assert_eq!(
                store
                    .admit(&admission(&checks, 100, no_backoff()), 1)
                    .refused,
                None
            );
        }
        assert_eq!(store.usage(Rule::PerCountry, 50, 1), None);
        // Once the windows end, the sweep makes room and the key is counted.
        assert_eq!(
            store
                .admit(&admission(&checks, 100, no_backoff()), 20)
                .refused,
            None
        );
        assert_eq!(
            store.usage(Rule::PerCountry, 50, 20).map(|u| u.count),
            Some(1)
        );
        assert!(store.tracked() <= 3);
    }
}
