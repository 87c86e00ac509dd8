//! What the per-message checks cost, in this process: the abuse guard with
//! a million keys tracked — the whole screen (safe list, destination,
//! backoff, every counting rule), and its two parts, the destination's
//! classification by libphonenumber's metadata and the counters alone — and
//! the idempotency check that runs before it.
//!
//! Run: `cargo bench -p phonehook-e2e --bench guard`. `GUARD_BENCH_KEYS`
//! sets the keys tracked first (default 1,000,000), `GUARD_BENCH_MESSAGES`
//! the messages timed per figure (default 200,000).

use std::hint::black_box;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use phonehook::deliverylog::DeliveryLog;
use phonehook::guard::config::{BackoffConfig, GuardConfig, Limit};
use phonehook::guard::counters::{Admission, Check, CounterStore, MemoryStore};
use phonehook::guard::{destination, Guard, Rule, Verdict};
use phonehook::idempotency::{Idempotency, IdempotencyConfig};
use phonehook_plugin_api::Message;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A US number per index, spread over many prefixes.
fn number(i: u64) -> String {
    format!("+1{}{:07}", 201 + (i / 10_000_000) % 700, i % 10_000_000)
}

fn message(i: u64) -> Message {
    let mut m = Message::new(&number(i), "Your code is 123456");
    m.ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255).into();
    m
}

/// The screen, run to completion at once: without a shared store it never
/// waits, so no runtime is needed (and none is measured).
fn screen(guard: &Guard, m: &Message, now_ms: i64) -> Verdict {
    guard
        .screen(m, None, now_ms)
        .now_or_never()
        .expect("the memory guard never waits")
}

fn per_message_ns(started: Instant, n: u64) -> f64 {
    started.elapsed().as_nanos() as f64 / n as f64
}

fn main() {
    let keys = env_or("GUARD_BENCH_KEYS", 1_000_000);
    let n = env_or("GUARD_BENCH_MESSAGES", 200_000);
    let high = Limit {
        limit: u32::MAX,
        window_secs: 3600,
    };
    let config = GuardConfig {
        per_number: high,
        per_ip: high,
        per_prefix: high,
        per_country: high,
        max_tracked_keys: 4 * keys as usize,
        ..GuardConfig::default()
    };
    let guard = Guard::start(&config, &DeliveryLog::disabled(), None);
    let now_ms = 1_700_000_000_000;

    // Fill: `keys` numbers (plus their addresses and prefixes).
    let started = Instant::now();
    for i in 0..keys {
        black_box(screen(&guard, &message(i), now_ms));
    }
    println!(
        "filled {} keys from {keys} numbers in {:.1} s",
        guard.tracked_keys(),
        started.elapsed().as_secs_f64()
    );

    // The whole screen, for numbers already tracked and for new ones (the
    // messages are built first: building them is the caller's cost).
    let known: Vec<Message> = (0..n).map(|i| message(i * (keys / n).max(1))).collect();
    let fresh: Vec<Message> = (keys..keys + n).map(message).collect();
    let started = Instant::now();
    for m in &known {
        assert_eq!(screen(&guard, m, now_ms), Verdict::Pass);
    }
    let known_ns = per_message_ns(started, n);
    let started = Instant::now();
    for m in &known {
        assert_eq!(screen(&guard, m, now_ms), Verdict::Pass);
    }
    let repeat_ns = per_message_ns(started, n);
    let started = Instant::now();
    for m in &fresh {
        black_box(screen(&guard, m, now_ms));
    }
    let fresh_ns = per_message_ns(started, n);

    // Its parts: the classification...
    let numbers: Vec<String> = (keys..keys + n).map(number).collect();
    let started = Instant::now();
    for number in &numbers {
        black_box(destination::classify(number));
    }
    let classify = per_message_ns(started, n);

    // ...and the counters alone, on a store of their own with `keys` keys.
    let store = MemoryStore::new(4 * keys as usize);
    let spread = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let admit = |i: u64| {
        let checks = [
            Check {
                rule: Rule::PerNumber,
                key: spread(i),
                limit: high,
            },
            Check {
                rule: Rule::PerIp,
                key: spread(i ^ 0xA5A5),
                limit: high,
            },
            Check {
                rule: Rule::PerPrefix,
                key: spread(i / 10_000 + 7),
                limit: high,
            },
            Check {
                rule: Rule::PerCountry,
                key: 3,
                limit: high,
            },
        ];
        let admission = Admission {
            checks: &checks,
            number: spread(i),
            backoff: BackoffConfig::default(),
            jitter: 0.5,
            class: destination::classify("+14155550100"),
        };
        black_box(store.admit(&admission, 1_700_000_000));
    };
    for i in 0..keys / 2 {
        admit(i);
    }
    let started = Instant::now();
    for i in 0..n {
        admit(i * (keys / 2 / n).max(1));
    }
    let counters = per_message_ns(started, n);

    // The idempotency check a message pays before the guard: its key and
    // the claim of a new entry (every message here is a new one).
    let idempotency = Idempotency::new(&IdempotencyConfig::default(), None, Duration::ZERO);
    let started = Instant::now();
    for m in &fresh {
        let key = idempotency.key("hook", None, m);
        black_box(idempotency.claim(&key));
    }
    let idempotency_ns = per_message_ns(started, n);

    println!("tracked keys: {}", guard.tracked_keys());
    println!("| what | ns per message |");
    println!("|---|---|");
    println!("| screen, number tracked earlier (class kept with its counters) | {known_ns:.0} |");
    println!("| screen, number seen moments ago (class remembered) | {repeat_ns:.0} |");
    println!("| screen, new number | {fresh_ns:.0} |");
    println!("| of which: classification (libphonenumber) | {classify:.0} |");
    println!(
        "| counters alone (4 rules + backoff, {} keys) | {counters:.0} |",
        store.tracked()
    );
    println!("| idempotency check (key + claim, new message) | {idempotency_ns:.0} |");
}
