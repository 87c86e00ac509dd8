//! How fast a change reaches a fleet: three instances on one real PostgreSQL
//! server (a private cluster), 100 activations made on each instance in
//! turn, each timed from the admin call's answer until every instance's
//! `/healthz` shows the new control generation. Polled every millisecond,
//! so the figures include up to a millisecond of polling.
//!
//! Run: `cargo bench -p phonehook-e2e --bench fleet`; `FLEET_SWAPS` sets
//! the number of activations (default 100).

use std::time::{Duration, Instant};

use phonehook_e2e::contract;
use phonehook_e2e::mocks::twilio::{self, Twilio};
use phonehook_e2e::postgres::PgCluster;
use phonehook_e2e::{Host, MockVendor};
use serde_json::json;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let swaps: usize = std::env::var("FLEET_SWAPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let pg = PgCluster::start();
    let db = pg.create_database("fleet_bench");
    let mock = MockVendor::start(twilio::router(Twilio::new())).await;
    let mut hosts: Vec<Host> = Vec::new();
    for _ in 0..3 {
        let host = contract::host("twilio", &mock.url())
            .active("sandbox")
            .config("store", db.as_str())
            .start()
            .await;
        hosts.push(host);
    }
    let client = reqwest::Client::new();
    let mut took = Vec::with_capacity(swaps);
    for i in 0..swaps {
        let plugin = if i % 2 == 0 { "twilio" } else { "sandbox" };
        let (status, body) = hosts[i % 3]
            .admin(
                "PUT",
                "/api/v1/active-plugin",
                Some(json!({"name": plugin})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let generation = body["config_generation"].clone();
        let start = Instant::now();
        for h in &hosts {
            loop {
                let health: serde_json::Value = client
                    .get(format!("{}/healthz", h.url()))
                    .send()
                    .await
                    .expect("healthz")
                    .json()
                    .await
                    .expect("json");
                if health["config_generation"] == generation {
                    break;
                }
                assert!(start.elapsed() < Duration::from_secs(30), "{health}");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        took.push(start.elapsed());
    }
    took.sort();
    println!(
        "activation propagation across 3 instances, {swaps} swaps: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&took, 0.5).as_secs_f64() * 1000.0,
        percentile(&took, 0.99).as_secs_f64() * 1000.0,
        took.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
    for h in hosts {
        h.shutdown().await;
    }
}
