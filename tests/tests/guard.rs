//! The abuse guard on a real server: each rule alone (the N+1st message is
//! refused with its rule and a `Retry-After` that holds), backoff waits that
//! grow, the safe list (kept across a restart), monitor mode, the destination
//! policy, and an SMS-pumping run next to legitimate traffic.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use phonehook_e2e::{Host, HostBuilder};
use serde_json::{json, Value};

/// One message as the hook sends it, from the user at `ip`.
fn hook(number: &str, ip: &str) -> Value {
    json!({
        "recipient": number,
        "text": "Your code is 493817",
        "context": {
            "factor_type": "second",
            "message_type": "sms",
            "action": "second-factor-authentication",
            "ip": ip,
            "user": {"user_id": "auth0|u1"},
            "client": {"client_id": "c1", "name": "app"}
        }
    })
}

/// The answer's status, `error.rule`, `Retry-After` (seconds) and event id.
struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<u64>,
    event_id: Option<String>,
}

async fn send(host: &Host, client: &reqwest::Client, number: &str, ip: &str) -> Answer {
    let resp = client
        .post(format!("{}/api/v1/messages", host.url()))
        .json(&hook(number, ip))
        .send()
        .await
        .expect("host answers");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header("retry-after").and_then(|v| v.parse().ok());
    let event_id = header("x-phonehook-event-id");
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        body,
        retry_after,
        event_id,
    }
}

/// The status of one message to `number` from one fixed caller.
async fn status_of(host: &Host, client: &reqwest::Client, number: &str) -> u16 {
    send(host, client, number, "203.0.113.1").await.status
}

/// A host with the guard on, every counting rule and the backoff off unless
/// `rules` sets them.
fn guarded(rules: &[(&str, Value)]) -> HostBuilder {
    let mut builder = Host::builder()
        .guard()
        .config("guard.per_number.limit", 0)
        .config("guard.per_ip.limit", 0)
        .config("guard.per_prefix.limit", 0)
        .config("guard.per_country.limit", 0)
        .config("guard.backoff.after", 0);
    for (key, value) in rules {
        builder = builder.config(key, toml_value(value));
    }
    builder
}

fn toml_value(v: &Value) -> toml::Value {
    match v {
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => toml::Value::Integer(n.as_i64().expect("integer")),
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(items) => toml::Value::Array(items.iter().map(toml_value).collect()),
        other => panic!("no TOML form for {other}"),
    }
}

async fn inbox_to(host: &Host, number: &str) -> usize {
    host.inbox()
        .await
        .iter()
        .filter(|m| m["to"] == number)
        .count()
}

/// One row per counting rule: the messages it sees share its key and differ
/// in every other, so only this rule can refuse the third.
#[tokio::test]
async fn each_counting_rule_refuses_the_message_over_its_limit_until_its_window_ends() {
    struct Row {
        rule: &'static str,
        /// The i-th message's number and caller address.
        message: fn(usize) -> (String, String),
    }
    let rows = [
        Row {
            rule: "per_number",
            message: |i| ("+14155550100".into(), format!("203.0.113.{i}")),
        },
        Row {
            rule: "per_ip",
            message: |i| (format!("+1{}5550100", 212 + i * 101), "203.0.113.9".into()),
        },
        Row {
            rule: "per_prefix",
            message: |i| (format!("+1415555010{i}"), format!("203.0.113.{i}")),
        },
        Row {
            rule: "per_country",
            message: |i| (format!("+33612{i}45678"), format!("2001:db8:{i}::1")),
        },
    ];
    const LIMIT: usize = 2;
    const WINDOW: u64 = 2;
    let client = reqwest::Client::new();
    for row in rows {
        let host = guarded(&[
            (&format!("guard.{}.limit", row.rule), json!(LIMIT)),
            (&format!("guard.{}.window_secs", row.rule), json!(WINDOW)),
        ])
        .start()
        .await;
        for i in 0..LIMIT {
            let (number, ip) = (row.message)(i);
            let a = send(&host, &client, &number, &ip).await;
            assert_eq!(a.status, 200, "{}: message {i}: {}", row.rule, a.body);
        }
        let (number, ip) = (row.message)(LIMIT);
        let refused = send(&host, &client, &number, &ip).await;
        assert_eq!(refused.status, 429, "{}: {}", row.rule, refused.body);
        assert_eq!(refused.body["error"]["code"], "rate_limited");
        assert_eq!(refused.body["error"]["rule"], row.rule);
        let wait = refused.retry_after.expect("Retry-After");
        assert!(
            (1..=WINDOW).contains(&wait),
            "{}: Retry-After {wait}",
            row.rule
        );
        assert_eq!(refused.body["error"]["retry_after_secs"], wait);
        assert!(refused.event_id.is_some(), "a refusal is logged with an id");
        // Nothing reached the vendor for it.
        let earlier = if row.rule == "per_number" { LIMIT } else { 0 };
        assert_eq!(inbox_to(&host, &number).await, earlier, "{}", row.rule);
        tokio::time::sleep(Duration::from_secs(wait)).await;
        let again = send(&host, &client, &number, &ip).await;
        assert_eq!(
            again.status, 200,
            "{} after Retry-After: {}",
            row.rule, again.body
        );
        host.shutdown().await;
    }
}

#[tokio::test]
async fn backoff_waits_grow_after_a_burst() {
    let host = guarded(&[
        ("guard.backoff.after", json!(2)),
        ("guard.backoff.base_secs", json!(1)),
        ("guard.backoff.max_secs", json!(4)),
    ])
    .start()
    .await;
    let client = reqwest::Client::new();
    let number = "+14155550111";
    for i in 0..2 {
        assert_eq!(
            send(&host, &client, number, "203.0.113.1").await.status,
            200,
            "{i}"
        );
    }
    let mut waits = Vec::new();
    for _ in 0..3 {
        let refused = send(&host, &client, number, "203.0.113.1").await;
        assert_eq!(refused.status, 429, "{}", refused.body);
        assert_eq!(refused.body["error"]["rule"], "backoff");
        let wait = refused.retry_after.expect("Retry-After");
        waits.push(wait);
        tokio::time::sleep(Duration::from_secs(wait)).await;
        let sent = send(&host, &client, number, "203.0.113.1").await;
        assert_eq!(sent.status, 200, "after {wait} s: {}", sent.body);
    }
    // 1, 2, 4 s (each stretched by at most a fifth, and whole seconds: the
    // first wait may be already partly served when it is asked for).
    assert!(waits[0] <= 2 && waits[1] >= 2 && waits[2] >= 4, "{waits:?}");
    assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
    let (_, status) = host
        .admin("GET", "/api/v1/guard/numbers/+14155550111", None)
        .await;
    assert_eq!(status["backoff"]["sends"], 5, "{status}");
    assert_eq!(status["number"], "+1********11");
    assert_eq!(status["counted_by"], "this_instance", "no shared store");
    host.shutdown().await;
}

#[tokio::test]
async fn the_safe_list_is_never_limited_and_outlives_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("log.db");
    let start = || {
        guarded(&[("guard.per_number.limit", json!(1))])
            .config("log.path", log.to_string_lossy().into_owned())
            .start()
    };
    let host = start().await;
    let client = reqwest::Client::new();
    let (status, body) = host
        .admin(
            "PUT",
            "/api/v1/guard/safe-list/+1415555",
            Some(json!({"note": "QA phones"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for i in 0..5 {
        let a = send(&host, &client, "+14155550123", "203.0.113.1").await;
        assert_eq!(a.status, 200, "safe-listed message {i}: {}", a.body);
    }
    // Not covered: limited.
    assert_eq!(status_of(&host, &client, "+14165550123").await, 200);
    assert_eq!(status_of(&host, &client, "+14165550123").await, 429);
    let (status, body) = host.admin("PUT", "/api/v1/guard/safe-list/555", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_safe_list_entry"))
    );
    host.shutdown().await;

    let host = start().await;
    let (_, body) = host.admin("GET", "/api/v1/guard/safe-list", None).await;
    assert_eq!(body["entries"][0]["entry"], "+1415555", "{body}");
    assert_eq!(body["entries"][0]["note"], "QA phones");
    assert_eq!(body["persistent"], true);
    for _ in 0..3 {
        assert_eq!(status_of(&host, &client, "+14155550123").await, 200);
    }
    let (status, _) = host
        .admin("DELETE", "/api/v1/guard/safe-list/+1415555", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(status_of(&host, &client, "+14155550123").await, 200);
    assert_eq!(status_of(&host, &client, "+14155550123").await, 429);
    // An admin reset lets the number through again.
    let (status, _) = host
        .admin("DELETE", "/api/v1/guard/numbers/+14155550123", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(status_of(&host, &client, "+14155550123").await, 200);
    host.shutdown().await;
}

#[tokio::test]
async fn a_backoff_outlives_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("log.db");
    let start = || {
        guarded(&[
            ("guard.backoff.after", json!(1)),
            ("guard.backoff.base_secs", json!(600)),
            ("guard.backoff.max_secs", json!(600)),
        ])
        .config("log.path", log.to_string_lossy().into_owned())
        .start()
    };
    let client = reqwest::Client::new();
    let host = start().await;
    assert_eq!(status_of(&host, &client, "+14155550177").await, 200);
    assert_eq!(status_of(&host, &client, "+14155550177").await, 429);
    host.shutdown().await;
    let host = start().await;
    let refused = send(&host, &client, "+14155550177", "203.0.113.1").await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.body["error"]["rule"], "backoff");
    assert!(
        refused.retry_after.is_some_and(|s| s > 500),
        "{:?}",
        refused.retry_after
    );
    host.shutdown().await;
}

#[tokio::test]
async fn monitor_mode_refuses_nothing_and_records_what_it_would_have() {
    let host = guarded(&[
        ("guard.mode", json!("monitor")),
        ("guard.per_number.limit", json!(1)),
    ])
    .config("log.flush_interval_ms", 20)
    .start()
    .await;
    let client = reqwest::Client::new();
    for i in 0..3 {
        let a = send(&host, &client, "+14155550122", "203.0.113.1").await;
        assert_eq!(a.status, 200, "message {i}: {}", a.body);
    }
    let premium = send(&host, &client, "+19005550123", "203.0.113.1").await;
    assert_eq!(premium.status, 200, "{}", premium.body);
    assert_eq!(inbox_to(&host, "+14155550122").await, 3);
    host.server().state().log.flush().await.expect("flush");
    let (_, page) = host
        .admin("GET", "/api/v1/logs?type=guard_would_block", None)
        .await;
    let rules: Vec<&str> = page["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["details"]["rule"].as_str())
        .collect();
    assert_eq!(
        rules.iter().filter(|r| **r == "per_number").count(),
        2,
        "{page}"
    );
    assert_eq!(
        rules.iter().filter(|r| **r == "number_type").count(),
        1,
        "{page}"
    );
    let (_, blocked) = host
        .admin("GET", "/api/v1/logs?type=guard_blocked", None)
        .await;
    assert_eq!(
        blocked["events"].as_array().map(Vec::len),
        Some(0),
        "{blocked}"
    );
    host.shutdown().await;
}

#[tokio::test]
async fn premium_rate_numbers_and_denied_countries_are_refused_before_any_vendor_request() {
    let host = guarded(&[("guard.deny_countries", json!(["GB"]))])
        .config("log.flush_interval_ms", 20)
        .start()
        .await;
    let client = reqwest::Client::new();
    let cases = [
        ("+19005550123", "number_type", "premium-rate"),
        ("+447400123456", "country", "GB is denied"),
    ];
    for (number, rule, reason) in cases {
        let a = send(&host, &client, number, "203.0.113.1").await;
        assert_eq!(a.status, 403, "{number}: {}", a.body);
        assert_eq!(a.body["error"]["code"], "destination_blocked");
        assert_eq!(a.body["error"]["rule"], rule);
        let text = a.body["error"]["reason"].as_str().unwrap_or_default();
        assert!(text.contains(reason), "{number}: {text}");
        assert_eq!(a.retry_after, None);
    }
    assert_eq!(host.inbox().await.len(), 0, "no vendor request was made");
    assert_eq!(status_of(&host, &client, "+33612345678").await, 200);
    host.server().state().log.flush().await.expect("flush");
    let (_, page) = host
        .admin("GET", "/api/v1/logs?type=guard_blocked", None)
        .await;
    assert_eq!(page["events"].as_array().map(Vec::len), Some(2), "{page}");
    let (_, overview) = host.admin("GET", "/api/v1/guard", None).await;
    assert_eq!(
        overview["blocked_last_hour"]["number_type"], 1,
        "{overview}"
    );
    assert_eq!(overview["blocked_last_hour"]["country"], 1);
    host.shutdown().await;

    // An allow list refuses every other country.
    let host = guarded(&[("guard.allow_countries", json!(["US"]))])
        .start()
        .await;
    assert_eq!(status_of(&host, &client, "+14155550100").await, 200);
    let fr = send(&host, &client, "+33612345678", "203.0.113.1").await;
    assert_eq!(
        (fr.status, fr.body["error"]["rule"].as_str()),
        (403, Some("country"))
    );
    host.shutdown().await;
}

/// 5,000 messages to 1,000 numbers in one prefix from 3 addresses, mixed with
/// 500 legitimate ones to numbers in 200 other prefixes from 200 addresses,
/// under the default rules. The attack gets through only as far as the
/// per-prefix limit allows; no legitimate message is refused.
#[tokio::test]
async fn a_pumping_run_is_held_to_the_prefix_limit_and_legitimate_users_pass() {
    let host = Host::builder()
        .guard()
        .config("sandbox.capacity", 10_000)
        .start()
        .await;
    let (_, overview) = host.admin("GET", "/api/v1/guard", None).await;
    let per_prefix = overview["limits"]["per_prefix"]["limit"]
        .as_u64()
        .expect("the default per-prefix limit is on");
    let client = reqwest::Client::new();
    // Attack: +1 415 555 0000..0999 (one prefix), three addresses.
    let attack = (0..5000).map(|i| {
        (
            format!("+1415555{:04}", i % 1000),
            format!("198.51.100.{}", i % 3),
            true,
        )
    });
    // Legitimate: +1 212 2PP NNNN, one prefix per user group, 200 addresses.
    let legit = (0..500).map(|i| {
        (
            format!("+1212{}{:04}", 200 + i % 200, i),
            format!("203.0.113.{}", i % 200),
            false,
        )
    });
    // Interleave: one legitimate message every ten attack messages.
    let mut legit = legit.peekable();
    let mut mixed = Vec::new();
    for (n, a) in attack.enumerate() {
        mixed.push(a);
        if n % 10 == 0 {
            if let Some(l) = legit.next() {
                mixed.push(l);
            }
        }
    }
    mixed.extend(legit);
    let started = Instant::now();
    let results: Vec<(bool, u16, Value)> = futures_util::stream::iter(mixed)
        .map(|(number, ip, is_attack)| {
            let (host, client) = (&host, &client);
            async move {
                let a = send(host, client, &number, &ip).await;
                (is_attack, a.status, a.body)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let legit_refused: Vec<&Value> = results
        .iter()
        .filter(|(attack, status, _)| !attack && *status != 200)
        .map(|(_, _, body)| body)
        .collect();
    assert!(
        legit_refused.is_empty(),
        "legitimate messages refused: {legit_refused:?}"
    );
    let attack_sent = results.iter().filter(|(a, s, _)| *a && *s == 200).count();
    let attack_refused = results.iter().filter(|(a, s, _)| *a && *s == 429).count();
    assert_eq!(attack_sent + attack_refused, 5000);
    // Per prefix is the tightest rule here: the 3 addresses allow 3 × 50.
    assert_eq!(
        attack_sent as u64,
        per_prefix,
        "after {:?}",
        started.elapsed()
    );
    let at_vendor = host
        .inbox()
        .await
        .iter()
        .filter(|m| m["to"].as_str().is_some_and(|t| t.starts_with("+1415555")))
        .count();
    assert_eq!(at_vendor as u64, per_prefix, "what reached the vendor");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_shows_a_number_resets_it_and_edits_the_safe_list() {
    const ADMIN: &str = "admin-token-for-the-guard-cli";
    let host = guarded(&[("guard.per_number.limit", json!(1))])
        .config("admin_token", ADMIN)
        .config("send_token", "send-token-for-the-guard-cli")
        .start()
        .await;
    let client = reqwest::Client::new();
    let sent = client
        .post(format!("{}/api/v1/messages", host.url()))
        .bearer_auth("send-token-for-the-guard-cli")
        .json(&hook("+14155550199", "203.0.113.1"))
        .send()
        .await
        .expect("answers");
    assert_eq!(sent.status(), 200);
    let bin = phonehook_e2e::plugins::host_binary();
    let url = host.url().to_owned();
    // The CLI calls this process's server: run it off the async runtime.
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(&bin);
        cmd.arg("guard")
            .args(args)
            .args(["--url", &url, "--token", ADMIN]);
        let out = std::thread::scope(|s| {
            s.spawn(|| cmd.output().expect("runs"))
                .join()
                .expect("joins")
        });
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "guard {args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let number = run(&["number", "+14155550199"]);
    assert!(number.contains("+1********99"), "{number}");
    assert!(number.contains("1 of 1 messages"), "{number}");
    assert!(
        !number.contains("4155550199"),
        "the full number is never shown: {number}"
    );
    let status = run(&["status"]);
    assert!(status.contains("per_number   1 per 3600 s"), "{status}");
    assert!(run(&["reset", "+14155550199"]).contains("reset: +1********99"));
    assert!(run(&["number", "+14155550199"]).contains("no messages counted"));
    let listed = run(&["allow", "+1555", "--note", "QA range"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("+1555") && l.contains("api") && l.contains("QA range")),
        "{listed}"
    );
    assert!(run(&["allow", "+1555", "--remove"]).contains("the safe list is empty"));
    host.shutdown().await;
}
