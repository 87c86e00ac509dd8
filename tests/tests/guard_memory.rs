//! The guard's counters stay within their stated bound: a million distinct
//! numbers (each with its own counter, backoff and prefix) pass through a
//! store with the default `max_tracked_keys`, and neither the tracked keys
//! nor this process's resident memory grow past it. Its own test binary, so
//! no other test's allocations share the process.

use phonehook::guard::config::{BackoffConfig, GuardConfig, Limit};
use phonehook::guard::counters::{Admission, Check, CounterStore, MemoryStore};
use phonehook::guard::destination::{Destination, NumberKind};
use phonehook::guard::Rule;

/// Every number's class, as the guard keeps it with its counters.
const US: Destination = Destination {
    region: None,
    kind: NumberKind::FixedLineOrMobile,
};

/// The bound `guard.max_tracked_keys` documents: at most 80 bytes a key
/// (24 bytes of key and state in a hash table that doubles as it grows),
/// 80 MiB for the default million keys.
const STATED_BOUND_BYTES: u64 = 80 << 20;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kb * 1024
}

#[test]
fn a_million_distinct_numbers_stay_within_the_stated_bound() {
    let config = GuardConfig::default();
    let store = MemoryStore::new(config.max_tracked_keys);
    let before = rss_bytes();
    let per_number = config.per_number;
    let per_prefix = Limit {
        limit: 1_000_000,
        ..config.per_prefix
    };
    for n in 0..1_000_000u64 {
        // Keys are keyed hashes in the guard; any well-spread u64 will do.
        let number = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let checks = [
            Check {
                rule: Rule::PerNumber,
                key: number,
                limit: per_number,
            },
            Check {
                rule: Rule::PerPrefix,
                key: (n / 10_000).wrapping_mul(0xC2B2_AE3D_27D4_EB4F),
                limit: per_prefix,
            },
        ];
        let admission = Admission {
            checks: &checks,
            number,
            backoff: BackoffConfig::default(),
            jitter: 0.5,
            class: US,
        };
        let outcome = store.admit(&admission, 1_700_000_000 + n / 1000);
        assert_eq!(outcome.refused, None, "message {n}");
    }
    let tracked = store.tracked();
    let grown = rss_bytes().saturating_sub(before);
    assert!(
        tracked <= config.max_tracked_keys,
        "{tracked} keys tracked, bound {}",
        config.max_tracked_keys
    );
    assert!(
        grown <= STATED_BOUND_BYTES,
        "resident memory grew by {} MiB for {tracked} keys",
        grown >> 20
    );
    // Once every window and burst has ended, the keys go.
    let later = 1_700_000_000 + 1000 + 2 * 3600;
    let checks = [Check {
        rule: Rule::PerNumber,
        key: 7,
        limit: per_number,
    }];
    let admission = Admission {
        checks: &checks,
        number: 7,
        backoff: BackoffConfig::default(),
        jitter: 0.5,
        class: US,
    };
    store.admit(&admission, later);
    assert!(
        store.tracked() <= 1,
        "{} keys left after expiry",
        store.tracked()
    );
}
