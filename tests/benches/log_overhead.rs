//! What the delivery log costs the send path: a host with the sandbox plugin
//! takes a fixed number of messages at concurrency 32, with the log on and
//! then off (alternating rounds, since the machine is shared and noisy), and
//! the throughputs are compared. Also the cost of building and recording one
//! event in isolation.
//!
//! Run: `cargo bench -p phonehook-e2e --bench log_overhead`.
//! `LOG_BENCH_MESSAGES` sets the messages per round (default 20000),
//! `LOG_BENCH_ROUNDS` the rounds per setting (default 3).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use phonehook::deliverylog::{DeliveryLog, LogConfig};
use phonehook_e2e::Host;
use phonehook_plugin_api::Message;
use serde_json::json;

const CONCURRENCY: usize = 32;
const WARMUP: usize = 1000;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Round {
    throughput: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
}

/// Sends `count` messages from `CONCURRENCY` workers; returns the rate and
/// latencies of the successful ones.
async fn send(url: &str, count: usize) -> Round {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()
        .expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, next, url) = (
            client.clone(),
            next.clone(),
            format!("{url}/api/v1/messages"),
        );
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let n = latencies.len() + errors;
                let body = json!({
                    "recipient": format!("+1415555{:04}", n % 10_000),
                    "text": "Your code is 123456",
                    "context": {"message_type": "sms", "code": "123456", "user": {"user_id": "bench"}}
                });
                let sent = Instant::now();
                let ok = match client.post(&url).json(&body).send().await {
                    Ok(resp) => resp.status().is_success() && resp.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(sent.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for w in workers {
        let (l, e) = w.await.expect("worker");
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let q = |q: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * q) as usize)
            .map_or(f64::NAN, ms)
    };
    Round {
        throughput: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        errors,
    }
}

fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn round(log_on: bool, messages: usize) -> Round {
    let dir = tempfile::tempdir().expect("dir");
    let host = Host::builder()
        .config("log.enabled", log_on)
        .config(
            "log.path",
            dir.path().join("log.db").to_string_lossy().into_owned(),
        )
        .config("sandbox.capacity", 100)
        .start()
        .await;
    send(host.url(), WARMUP).await;
    let result = send(host.url(), messages).await;
    let state = host.server().state().clone();
    host.shutdown().await;
    // After shutdown: the close has written everything accepted.
    let stats = state.log.stats();
    if log_on {
        println!(
            "    log: accepted {}, written {}, dropped {} (queue full {}, write failed {})",
            stats.accepted,
            stats.written,
            stats.dropped(),
            stats.dropped_queue_full,
            stats.dropped_write_failed
        );
    }
    result
}

/// Building one event (mask, keyed hash, scrub list) and queueing it: the
/// log's whole cost inside a request.
async fn record_cost() -> f64 {
    let dir = tempfile::tempdir().expect("dir");
    let n = 10_000;
    let log = DeliveryLog::open(&LogConfig {
        path: dir.path().join("log.db"),
        queue_capacity: n,
        ..LogConfig::default()
    })
    .expect("log");
    let mut message = Message::new("+14155550123", "Your code is 123456");
    message.code = "123456".into();
    let latency = Duration::from_millis(1);
    let started = Instant::now();
    for _ in 0..n {
        log.record(
            log.pending(&message, "hook")
                .delivered("sbx_1", "queued", latency),
        );
    }
    let per_event = started.elapsed().as_secs_f64() * 1e6 / n as f64;
    log.close().await;
    assert_eq!(log.stats().written, n as u64, "{:?}", log.stats());
    per_event
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let messages = env_or("LOG_BENCH_MESSAGES", 20_000);
    let rounds = env_or("LOG_BENCH_ROUNDS", 3);
    println!("log_overhead: {messages} messages per round at concurrency {CONCURRENCY}, {rounds} rounds each");
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for r in 1..=rounds {
        for log_on in [true, false] {
            let result = round(log_on, messages).await;
            println!(
                "  round {r} log {:<3}: {:>8.0} msg/s  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}",
                if log_on { "on" } else { "off" },
                result.throughput,
                result.p50_ms,
                result.p99_ms,
                result.errors
            );
            if log_on { &mut on } else { &mut off }.push(result.throughput);
        }
    }
    let (on, off) = (median(on), median(off));
    println!(
        "median throughput: log on {on:.0} msg/s, log off {off:.0} msg/s, on/off = {:.3}",
        on / off
    );
    println!("build + record one event: {:.2} µs", record_cost().await);
}
