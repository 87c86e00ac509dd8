//! Fallback providers on a real server: Twilio (a loopback mock whose
//! answers the test switches) is active and the sandbox is the fallback.
//! What falls over and what does not, the circuit breaker, the message
//! deadline, the chain's admin route, and an outage in the middle of a run.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use phonehook_e2e::contract;
use phonehook_e2e::mocks::twilio::{self, Scenario, Twilio};
use phonehook_e2e::{Host, HostBuilder, MockVendor};
use serde_json::{json, Value};

const NUMBER: &str = "+14155550100";

fn hook(number: &str) -> Value {
    json!({"recipient": number, "text": "Your code is 493817", "context": {"message_type": "sms"}})
}

async fn twilio_mock() -> (Twilio, MockVendor) {
    let state = Twilio::new();
    let mock = MockVendor::start(twilio::router(state.clone())).await;
    (state, mock)
}

/// Twilio active, the sandbox its fallback.
fn with_fallback(mock: &MockVendor) -> HostBuilder {
    contract::host("twilio", &mock.url())
        .config("fallback", vec!["sandbox"])
        .config("log.flush_interval_ms", 20)
}

struct Answer {
    status: u16,
    body: Value,
    plugin: Option<String>,
}

async fn send(host: &Host, client: &reqwest::Client, number: &str) -> Answer {
    let resp = client
        .post(format!("{}/api/v1/messages", host.url()))
        .json(&hook(number))
        .send()
        .await
        .expect("host answers");
    let plugin = resp
        .headers()
        .get("x-phonehook-plugin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        body,
        plugin,
    }
}

async fn events(host: &Host, query: &str) -> Vec<Value> {
    host.server().state().log.flush().await.expect("flush");
    let (status, page) = host
        .admin("GET", &format!("/api/v1/logs?{query}"), None)
        .await;
    assert_eq!(status, 200, "{page}");
    page["events"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_vendor_error_falls_over_to_the_fallback_and_both_attempts_are_one_message() {
    let (twilio, mock) = twilio_mock().await;
    twilio.set(Scenario::ServerError);
    let host = with_fallback(&mock).start().await;
    let client = reqwest::Client::new();
    let a = send(&host, &client, NUMBER).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.plugin.as_deref(), Some("sandbox"));
    assert!(a.body["MessageID"]
        .as_str()
        .is_some_and(|id| id.starts_with("sbx_")));
    assert_eq!(mock.requests().len(), 1, "one request reached Twilio");
    assert_eq!(host.inbox().await.len(), 1, "one reached the fallback");
    let all = events(&host, "").await;
    assert_eq!(all.len(), 2, "{all:?}");
    let message_id = all[0]["message_id"].clone();
    assert!(all.iter().all(|e| e["message_id"] == message_id), "{all:?}");
    let by_message = events(
        &host,
        &format!("message_id={}", message_id.as_str().unwrap_or("")),
    )
    .await;
    let story: Vec<(String, String)> = by_message
        .iter()
        .rev()
        .map(|e| {
            (
                e["plugin"].as_str().unwrap_or("").to_owned(),
                e["type"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        story,
        [
            ("twilio".to_owned(), "gd_send_sms_failure".to_owned()),
            ("sandbox".to_owned(), "gd_send_sms".to_owned())
        ]
    );
    host.shutdown().await;
}

#[tokio::test]
async fn a_final_refusal_does_not_fall_over() {
    let (twilio, mock) = twilio_mock().await;
    twilio.set(Scenario::InvalidNumber);
    let host = with_fallback(&mock).start().await;
    let a = send(&host, &reqwest::Client::new(), NUMBER).await;
    assert_eq!(a.status, 502, "{}", a.body);
    assert_eq!(a.body["error"]["vendor_code"], "21211");
    assert_eq!(a.plugin.as_deref(), Some("twilio"));
    assert_eq!(
        a.body["error"]["attempts"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(host.inbox().await.len(), 0, "the fallback was not tried");
    host.shutdown().await;
}

#[tokio::test]
async fn a_hanging_vendor_opens_its_circuit_and_a_probe_closes_it() {
    let (twilio, mock) = twilio_mock().await;
    twilio.set(Scenario::Hang);
    let host = with_fallback(&mock)
        .config("failover.breaker_failures", 2)
        .config("failover.breaker_cool_down_ms", 1500)
        .start()
        .await;
    let client = reqwest::Client::new();
    for i in 0..2 {
        let a = send(&host, &client, NUMBER).await;
        assert_eq!(
            (a.status, a.plugin.as_deref()),
            (200, Some("sandbox")),
            "message {i}: {}",
            a.body
        );
    }
    assert_eq!(mock.requests().len(), 2);
    let plugins = host.plugins().await;
    assert_eq!(plugins["circuits"]["twilio"], "open", "{plugins}");
    // While open, messages go straight to the fallback: Twilio sees nothing
    // of them (so they do not wait for its timeout).
    for _ in 0..3 {
        let a = send(&host, &client, NUMBER).await;
        assert_eq!(
            (a.status, a.plugin.as_deref()),
            (200, Some("sandbox")),
            "{}",
            a.body
        );
    }
    assert_eq!(
        mock.requests().len(),
        2,
        "an open circuit sends nothing to its vendor"
    );
    // The vendor recovers; after the cool-down the probe goes to Twilio.
    twilio.set(Scenario::Created);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let probe = send(&host, &client, NUMBER).await;
    assert_eq!(
        (probe.status, probe.plugin.as_deref()),
        (200, Some("twilio")),
        "{}",
        probe.body
    );
    assert_eq!(host.plugins().await["circuits"]["twilio"], "closed");
    let after = send(&host, &client, NUMBER).await;
    assert_eq!(after.plugin.as_deref(), Some("twilio"));
    let (_, metrics) = host.admin("GET", "/metrics", None).await;
    let page = metrics.as_str().unwrap_or_default();
    assert!(
        page.contains(r#"phonehook_fallbacks_total{from="twilio",to="sandbox"}"#),
        "{page}"
    );
    host.shutdown().await;
}

#[tokio::test]
async fn the_deadline_bounds_the_whole_message() {
    let (twilio, mock) = twilio_mock().await;
    twilio.set(Scenario::Hang);
    let host = contract::host("twilio", &mock.url())
        .config("vendor.timeout_ms", 30_000)
        .config("failover.deadline_ms", 700)
        .start()
        .await;
    let started = Instant::now();
    let a = send(&host, &reqwest::Client::new(), NUMBER).await;
    let took = started.elapsed();
    assert_eq!(a.status, 504, "{}", a.body);
    assert_eq!(a.body["error"]["code"], "deadline_exceeded");
    assert_eq!(
        a.body["error"]["attempts"][0]["plugin"], "twilio",
        "{}",
        a.body
    );
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    host.shutdown().await;
}

#[tokio::test]
async fn the_chain_is_swapped_live_with_the_checks_an_activation_has() {
    let (twilio, mock) = twilio_mock().await;
    twilio.set(Scenario::ServerError);
    let host = contract::host("twilio", &mock.url()).start().await;
    let client = reqwest::Client::new();
    assert_eq!(
        send(&host, &client, NUMBER).await.status,
        502,
        "no fallback yet"
    );
    let (status, body) = host
        .admin(
            "PUT",
            "/api/v1/fallback",
            Some(json!({"fallback": ["sandbx"]})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_plugin")),
        "{body}"
    );
    let (status, body) = host
        .admin(
            "PUT",
            "/api/v1/fallback",
            Some(json!({"fallback": ["sandbox", "sandbox"]})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = host
        .admin(
            "PUT",
            "/api/v1/fallback",
            Some(json!({"fallback": ["sandbox"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["fallback"], json!(["sandbox"]));
    assert_eq!(body["source"], "api");
    let a = send(&host, &client, NUMBER).await;
    assert_eq!(
        (a.status, a.plugin.as_deref()),
        (200, Some("sandbox")),
        "{}",
        a.body
    );
    host.shutdown().await;
}

/// 3,000 messages at concurrency 32; Twilio fails in the middle of the run
/// and recovers: with the sandbox as fallback no message fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_mid_run_fails_no_message() {
    let (twilio, mock) = twilio_mock().await;
    let host = with_fallback(&mock)
        .config("failover.breaker_cool_down_ms", 300)
        .config("sandbox.capacity", 10_000)
        .start()
        .await;
    let client = reqwest::Client::new();
    const TOTAL: usize = 3000;
    let switch = twilio.clone();
    let results: Vec<(u16, Option<String>)> = futures_util::stream::iter(0..TOTAL)
        .map(|i| {
            let (host, client, switch) = (&host, &client, &switch);
            async move {
                if i == TOTAL / 3 {
                    switch.set(Scenario::ServerError);
                }
                if i == 2 * TOTAL / 3 {
                    switch.set(Scenario::Created);
                }
                let a = send(host, client, &format!("+1415555{:04}", i % 10_000)).await;
                (a.status, a.plugin)
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let failed: Vec<&(u16, Option<String>)> = results.iter().filter(|(s, _)| *s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    let by = |p: &str| {
        results
            .iter()
            .filter(|(_, q)| q.as_deref() == Some(p))
            .count()
    };
    assert!(
        by("sandbox") > 0,
        "the outage moved messages to the fallback"
    );
    // Twilio served before the outage (how many depends on where the
    // switch falls among the 32 in flight).
    assert!(by("twilio") > TOTAL / 4, "Twilio served: {}", by("twilio"));
    // And after it: once the cool-down has passed, traffic returns.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = send(&host, &client, NUMBER).await;
    assert_eq!(
        (after.status, after.plugin.as_deref()),
        (200, Some("twilio")),
        "{}",
        after.body
    );
    host.shutdown().await;
}

/// 20 identical calls at once (a platform retrying a slow answer): one
/// vendor request, 20 identical answers; an `Idempotency-Key` names a
/// message whatever its body; another code is another message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_calls_get_the_first_answer_without_a_second_text() {
    let (_twilio, mock) = twilio_mock().await;
    let host = contract::host("twilio", &mock.url())
        .idempotency()
        .start()
        .await;
    let client = reqwest::Client::new();
    let answers: Vec<(u16, Value, bool, Option<String>)> = futures_util::stream::iter(0..20)
        .map(|_| {
            let (host, client) = (&host, &client);
            async move {
                let resp = client
                    .post(format!("{}/api/v1/messages", host.url()))
                    .json(&hook(NUMBER))
                    .send()
                    .await
                    .expect("answers");
                let replay = resp.headers().contains_key("x-phonehook-replay");
                let event = resp
                    .headers()
                    .get("x-phonehook-event-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                (
                    resp.status().as_u16(),
                    resp.json().await.unwrap_or(Value::Null),
                    replay,
                    event,
                )
            }
        })
        .buffer_unordered(20)
        .collect()
        .await;
    assert_eq!(mock.requests().len(), 1, "one vendor request");
    let first = &answers[0].1;
    assert!(first["MessageID"].as_str().is_some(), "{first}");
    // The same answer, event id included (the link to the delivery log).
    let event = &answers[0].3;
    assert!(event.is_some(), "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(s, b, _, e)| *s == 200 && b == first && e == event),
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|(_, _, replay, _)| !replay).count(),
        1
    );
    // Another code to the same number is another message.
    let other = json!({"recipient": NUMBER, "text": "Your code is 111222", "context": {"message_type": "sms"}});
    let (status, body) = host.send(other).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["MessageID"], first["MessageID"]);
    assert_eq!(mock.requests().len(), 2);
    // The same Idempotency-Key is the same message, whatever the body says.
    let keyed = |text: &str| {
        client
            .post(format!("{}/api/v1/messages", host.url()))
            .header("idempotency-key", "auth0-retry-7")
            .json(&json!({"recipient": NUMBER, "text": text, "context": {"message_type": "sms"}}))
            .send()
    };
    let a: Value = keyed("Your code is 333444")
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    let b: Value = keyed("Your code is 555666")
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(a["MessageID"], b["MessageID"]);
    assert_eq!(mock.requests().len(), 3);
    host.shutdown().await;
}

#[tokio::test]
async fn after_the_window_a_repeat_sends_again_and_a_failure_is_not_kept() {
    let (twilio, mock) = twilio_mock().await;
    let host = contract::host("twilio", &mock.url())
        .idempotency()
        .config("idempotency.window_secs", 1)
        .start()
        .await;
    twilio.set(Scenario::ServerError);
    let (status, _) = host.send(hook(NUMBER)).await;
    assert_eq!(status, 502);
    twilio.set(Scenario::Created);
    let (status, first) = host.send(hook(NUMBER)).await;
    assert_eq!(status, 200, "a retry after a failure sends: {first}");
    assert_eq!(mock.requests().len(), 2);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, again) = host.send(hook(NUMBER)).await;
    assert_ne!(again["MessageID"], first["MessageID"]);
    assert_eq!(mock.requests().len(), 3);
    host.shutdown().await;
}

/// A 429 whose Retry-After fits the deadline is retried on the same vendor;
/// one that does not fit moves on to the fallback at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_that_fits_the_deadline_retries_the_same_vendor() {
    let (twilio, mock) = twilio_mock().await;
    let host = with_fallback(&mock).start().await;
    let client = reqwest::Client::new();
    twilio.set(Scenario::RateLimited(1));
    let recover = {
        let twilio = twilio.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            twilio.set(Scenario::Created);
        })
    };
    let a = send(&host, &client, NUMBER).await;
    recover.await.expect("recovers");
    assert_eq!(
        (a.status, a.plugin.as_deref()),
        (200, Some("twilio")),
        "{}",
        a.body
    );
    assert_eq!(mock.requests().len(), 2, "the same vendor, twice");
    assert_eq!(host.inbox().await.len(), 0);
    host.shutdown().await;

    let (twilio, mock) = twilio_mock().await;
    let host = with_fallback(&mock)
        .config("failover.deadline_ms", 2000)
        .start()
        .await;
    twilio.set(Scenario::RateLimited(30));
    let a = send(&host, &client, NUMBER).await;
    assert_eq!(
        (a.status, a.plugin.as_deref()),
        (200, Some("sandbox")),
        "{}",
        a.body
    );
    assert_eq!(
        mock.requests().len(),
        1,
        "no wait of 30 s within a 2 s deadline"
    );
    host.shutdown().await;
}
