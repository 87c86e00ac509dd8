//! The delivery log and metrics through a real host: event types from real
//! sends, filters and pages over HTTP, what the database file and the server's
//! own log lines must never hold, flush on shutdown, an unwritable database,
//! and `/metrics`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use phonehook::deliverylog::{DeliveryLog, LogConfig, Query};
use phonehook_e2e::arrival::sha256_file;
use phonehook_e2e::mocks::twilio::{self, Scenario, Twilio, ACCOUNT_SID, AUTH_TOKEN, FROM};
use phonehook_e2e::served::{self, Served};
use phonehook_e2e::{plugins, Host, MockVendor};
use serde_json::{json, Value};

const EVENT_ID: &str = "x-phonehook-event-id";
const CODE: &str = "938271";
const NUMBER: &str = "+14155550100";
/// The sandbox refuses this number, quoting it in its error text.
const REFUSED: &str = "+15005550001";
const SEND: &str = "send-token-5d1e0c8b7a69f432";
const ADMIN: &str = "admin-token-0f9e8d7c6b5a4321";

fn hook(number: &str, channel: &str) -> Value {
    json!({
        "recipient": number,
        "text": format!("Your code is {CODE}"),
        "context": {"message_type": channel, "code": CODE, "language": "en",
                    "action": "second-factor-authentication",
                    "client": {"client_id": "client-a"}, "user": {"user_id": "auth0|user-a"},
                    "request": {"ip": "203.0.113.9"}}
    })
}

/// Every spelling of a number a careless writer could leave behind.
fn spellings(number: &str) -> [String; 3] {
    let digits = number.trim_start_matches('+');
    [number.to_owned(), digits.to_owned(), digits[1..].to_owned()]
}

/// A request that also returns the event id header.
async fn post(host: &Host, path: &str, payload: &Value) -> (u16, Value, Option<String>) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", host.url()))
        .header("content-type", "application/json")
        .body(payload.to_string())
        .send()
        .await
        .expect("host answers");
    let status = resp.status().as_u16();
    let id = resp
        .headers()
        .get(EVENT_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body, id)
}

async fn logs(host: &Host, query: &str) -> Value {
    let (status, body) = host
        .admin("GET", &format!("/api/v1/logs?{query}"), None)
        .await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

/// The one event with this id.
async fn event(host: &Host, id: &str) -> Value {
    let body = logs(host, &format!("id={id}")).await;
    let events = body["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 1, "{body}");
    events[0].clone()
}

/// Every event id matching `query`, newest first, following cursors.
async fn all_ids(host: &Host, query: &str) -> (Vec<String>, usize) {
    let (mut ids, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let q = cursor
            .as_ref()
            .map_or(query.to_owned(), |c| format!("{query}&cursor={c}"));
        let body = logs(host, &q).await;
        pages += 1;
        for e in body["events"].as_array().into_iter().flatten() {
            ids.push(e["id"].as_str().unwrap_or_default().to_owned());
        }
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (ids, pages),
        }
        assert!(pages < 100, "pagination does not end");
    }
}

async fn metrics(host: &Host) -> String {
    let (status, body) = host.admin("GET", "/metrics", None).await;
    assert_eq!(status, 200, "{body}");
    body.as_str().unwrap_or_default().to_owned()
}

fn sample(page: &str, series: &str) -> f64 {
    phonehook::metrics::sample(page, series).unwrap_or(0.0)
}

#[tokio::test]
async fn every_attempt_is_one_event_with_auth0s_type() {
    let host = Host::builder().start().await;
    let cases = [
        (
            "/api/v1/messages",
            NUMBER,
            "sms",
            200,
            "gd_send_sms",
            "hook",
        ),
        (
            "/api/v1/messages",
            REFUSED,
            "sms",
            502,
            "gd_send_sms_failure",
            "hook",
        ),
        (
            "/api/v1/messages",
            NUMBER,
            "voice",
            200,
            "gd_send_voice",
            "hook",
        ),
        (
            "/api/v1/messages",
            REFUSED,
            "voice",
            502,
            "gd_send_voice_failure",
            "hook",
        ),
        (
            "/api/v1/plugins/sandbox/test",
            NUMBER,
            "sms",
            200,
            "gd_send_sms",
            "runner",
        ),
        (
            "/api/v1/plugins/sandbox/test",
            REFUSED,
            "voice",
            502,
            "gd_send_voice_failure",
            "runner",
        ),
    ];
    for (path, number, channel, want_status, want_type, route) in cases {
        let (status, body, id) = post(&host, path, &hook(number, channel)).await;
        assert_eq!(status, want_status, "{path} {number} {channel}: {body}");
        let id = id.unwrap_or_else(|| panic!("{path}: no {EVENT_ID} header on {status}"));
        let e = event(&host, &id).await;
        let case = format!("{path} {number} {channel}: {e}");
        assert_eq!(e["type"], want_type, "{case}");
        assert_eq!(e["route"], route, "{case}");
        assert_eq!(
            (e["plugin"].as_str(), e["action"].as_str()),
            (Some("sandbox"), Some("second-factor-authentication")),
            "{case}"
        );
        assert!(e["generation"].as_u64().is_some_and(|g| g > 0), "{case}");
        assert_eq!(
            (
                e["user_id"].as_str(),
                e["client_id"].as_str(),
                e["ip"].as_str()
            ),
            (Some("auth0|user-a"), Some("client-a"), Some("203.0.113.9")),
            "{case}"
        );
        assert!(
            e["recipient"]
                .as_str()
                .is_some_and(|r| r.starts_with("+1*") && r.ends_with(&number[number.len() - 2..])),
            "{case}"
        );
        assert!(e["latency_ms"].as_f64().is_some(), "{case}");
        if want_status == 200 {
            assert_eq!(e["vendor_message_id"], body["MessageID"], "{case}");
            assert!(e["vendor_latency_ms"].as_f64().is_some(), "{case}");
        } else {
            let d = &e["details"];
            assert_eq!(
                (
                    d["code"].as_str(),
                    d["vendor_code"].as_str(),
                    d["retryable"].as_bool()
                ),
                (Some("vendor_error"), Some("invalid_number"), Some(false)),
                "{case}"
            );
            assert_eq!(
                (d["source"].as_str(), d["vendor_status"].as_u64()),
                (Some("vendor"), Some(400)),
                "{case}"
            );
            // The sandbox quotes the number: it must be there, redacted.
            let message = d["message"].as_str().expect("a failure has a message");
            assert!(
                message.contains("[redacted]") && !message.contains("5005550001"),
                "{case}"
            );
        }
    }
    // Refused before any plugin ran: no attempt, no event, no id.
    let (status, _, id) = post(
        &host,
        "/api/v1/messages",
        &json!({"recipient": "12", "text": "x"}),
    )
    .await;
    assert_eq!((status, id), (422, None));
    assert_eq!(all_ids(&host, "").await.0.len(), cases.len());
}

/// Which events a filter should select.
type Keep = Box<dyn Fn(&Value) -> bool>;

#[tokio::test]
async fn every_filter_and_the_pages_work_over_http() {
    let host = Host::builder().plugin("fixture-echo-v1").start().await;
    // 21 attempts: users, clients, numbers and outcomes on different cycles;
    // the last three through the runner and the `echo` plugin.
    let mut sent: Vec<(String, Value)> = Vec::new();
    for i in 0..21 {
        let number = if i % 5 == 4 {
            REFUSED.to_owned()
        } else {
            format!("+1415555{:04}", 200 + i % 3)
        };
        let mut payload = hook(&number, if i % 4 == 1 { "voice" } else { "sms" });
        payload["context"]["user"]["user_id"] = json!(format!("user-{}", i % 3));
        payload["context"]["client"]["client_id"] = json!(format!("client-{}", i % 2));
        let path = if i >= 18 {
            "/api/v1/plugins/echo/test"
        } else {
            "/api/v1/messages"
        };
        let (_, _, id) = post(&host, path, &payload).await;
        sent.push((id.expect("event id"), payload));
    }
    let (all, _) = all_ids(&host, "limit=500").await;
    assert_eq!(all.len(), 21);
    assert_eq!(
        all.iter().rev().cloned().collect::<Vec<_>>(),
        sent.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        "newest first"
    );
    let by_id: Vec<Value> = logs(&host, "limit=500").await["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let expect = |keep: &dyn Fn(&Value) -> bool| -> Vec<String> {
        by_id
            .iter()
            .filter(|e| keep(e))
            .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let numbers: std::collections::HashMap<String, String> = sent
        .iter()
        .map(|(id, p)| {
            (
                id.clone(),
                p["recipient"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let number_of = move |e: &Value| {
        numbers
            .get(e["id"].as_str().unwrap_or_default())
            .cloned()
            .unwrap_or_default()
    };
    // +14155550201 and the refused +15005550001 share this mask.
    let mask = "%2B1********01";
    let times: Vec<&str> = by_id.iter().filter_map(|e| e["time"].as_str()).collect();
    let (since, until) = (times[15].to_owned(), times[4].to_owned());
    let cases: Vec<(String, Keep)> = vec![
        (
            "type=gd_send_sms".into(),
            Box::new(|e| e["type"] == "gd_send_sms"),
        ),
        (
            "type=gd_send_sms_failure".into(),
            Box::new(|e| e["type"] == "gd_send_sms_failure"),
        ),
        (
            "type=gd_send_voice".into(),
            Box::new(|e| e["type"] == "gd_send_voice"),
        ),
        (
            "type=gd_send_voice_failure".into(),
            Box::new(|e| e["type"] == "gd_send_voice_failure"),
        ),
        (
            "type=gd_send_sms_failure,gd_send_voice_failure".into(),
            Box::new(|e| e["details"].is_object()),
        ),
        (
            "type=gd_send_sms&type=gd_send_voice".into(),
            Box::new(|e| e["details"].is_null()),
        ),
        ("plugin=echo".into(), Box::new(|e| e["plugin"] == "echo")),
        (
            "plugin=sandbox".into(),
            Box::new(|e| e["plugin"] == "sandbox"),
        ),
        (
            "user_id=user-1".into(),
            Box::new(|e| e["user_id"] == "user-1"),
        ),
        (
            "client_id=client-0".into(),
            Box::new(|e| e["client_id"] == "client-0"),
        ),
        (
            "recipient=%2B14155550201".into(),
            Box::new({
                let number_of = number_of.clone();
                move |e| number_of(e) == "+14155550201"
            }),
        ),
        (
            "recipient=(415)%20555-0201".into(),
            Box::new({
                let number_of = number_of.clone();
                move |e| number_of(e) == "+14155550201"
            }),
        ),
        (
            format!("recipient={mask}"),
            Box::new(move |e| ["+14155550201", REFUSED].contains(&number_of(e).as_str())),
        ),
        (
            format!("since={since}&until={until}"),
            Box::new({
                let (since, until) = (since.clone(), until.clone());
                move |e| {
                    e["time"]
                        .as_str()
                        .is_some_and(|t| t >= since.as_str() && t < until.as_str())
                }
            }),
        ),
        (
            "plugin=sandbox&user_id=user-0&type=gd_send_sms".into(),
            Box::new(|e| {
                e["plugin"] == "sandbox" && e["user_id"] == "user-0" && e["type"] == "gd_send_sms"
            }),
        ),
    ];
    for (query, keep) in &cases {
        let want = expect(keep.as_ref());
        assert!(
            !want.is_empty(),
            "{query}: the sends must cover this filter"
        );
        let (got, _) = all_ids(&host, &format!("limit=4&{query}")).await;
        assert_eq!(got, want, "{query}");
    }
    let (paged, pages) = all_ids(&host, "limit=7").await;
    assert_eq!((paged, pages), (all.clone(), 3));
    let first = logs(&host, "limit=7").await;
    assert_eq!(first["events"].as_array().map(Vec::len), Some(7));
    for (bad, code) in [
        ("type=gd_send_email", "invalid_query"),
        ("limit=0", "invalid_query"),
        ("cursor=zz", "invalid_query"),
        ("colour=red", "invalid_query"),
    ] {
        let (status, body) = host
            .admin("GET", &format!("/api/v1/logs?{bad}"), None)
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some(code)),
            "{bad}: {body}"
        );
    }
    let capped = logs(&host, "limit=100000").await;
    assert_eq!(capped["events"].as_array().map(Vec::len), Some(21));
}

#[tokio::test]
async fn the_logs_route_is_for_admins_only() {
    let host = Host::builder()
        .config("send_token", SEND)
        .config("admin_token", ADMIN)
        .start()
        .await;
    for path in ["/api/v1/logs", "/metrics"] {
        for token in [None, Some(SEND), Some("nope")] {
            let (status, _) = host.request_with("GET", path, None, token).await;
            assert_eq!(status, 401, "{path} with {token:?}");
        }
        let (status, _) = host.request_with("GET", path, None, Some(ADMIN)).await;
        assert_eq!(status, 200, "{path}");
    }
}

/// A host with the Twilio plugin against the mock at `base_url`, logging to `log`.
async fn twilio_host(base_url: String, log: &Path) -> Host {
    Host::builder()
        .plugin("phonehook-plugin-twilio")
        .active("twilio")
        .setting("twilio", "base_url", base_url)
        .secret("twilio", "TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .secret("twilio", "TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        .secret("twilio", "TWILIO_PHONE_NUMBER", FROM)
        .config("log.path", log.to_string_lossy().into_owned())
        .config("vendor.timeout_ms", 2000)
        .start()
        .await
}

#[tokio::test]
async fn the_database_file_never_holds_the_code_a_secret_or_the_number() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("log.db");
    let state = Twilio::new();
    let mock = MockVendor::start(twilio::router(state.clone())).await;
    let host = twilio_host(mock.url(), &log).await;
    for channel in ["sms", "voice"] {
        state.set(Scenario::Created);
        assert_eq!(
            post(&host, "/api/v1/messages", &hook(NUMBER, channel))
                .await
                .0,
            200
        );
        // Twilio quotes the number back: "The 'To' number +1... is not valid".
        state.set(Scenario::InvalidNumber);
        assert_eq!(
            post(&host, "/api/v1/messages", &hook(NUMBER, channel))
                .await
                .0,
            502
        );
    }
    // Running: the events are in the WAL file.
    assert_eq!(all_ids(&host, "").await.0.len(), 4);
    assert_clean(dir.path());
    host.shutdown().await;
    // Twilio quotes the account SID (a secret) back in a 404.
    state.set(Scenario::Created);
    let host = twilio_host(format!("{}/moved", mock.url()), &log).await;
    let (status, body, id) = post(&host, "/api/v1/messages", &hook(NUMBER, "sms")).await;
    assert_eq!(status, 502, "{body}");
    let e = event(&host, &id.expect("id")).await;
    assert!(
        e["details"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("[redacted]")),
        "{e}"
    );
    host.shutdown().await;
    assert_clean(dir.path());
    // Still found by the full number, through its keyed hash.
    let reopened = DeliveryLog::open(&LogConfig {
        path: log.clone(),
        ..LogConfig::default()
    })
    .expect("opens");
    let region = phonehook::e164::region("US").expect("US");
    let query = Query::from_pairs([("recipient", NUMBER)], region, 0).expect("query");
    assert_eq!(reopened.query(query).await.expect("query").events.len(), 5);
}

fn assert_clean(dir: &Path) {
    let mut forbidden: Vec<String> = spellings(NUMBER).into();
    forbidden.extend([CODE, ACCOUNT_SID, AUTH_TOKEN, "Your code is"].map(str::to_owned));
    let mut checked = 0;
    for name in ["log.db", "log.db-wal", "log.db-shm"] {
        let Ok(bytes) = std::fs::read(dir.join(name)) else {
            continue;
        };
        checked += 1;
        for needle in &forbidden {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} is in {name}"
            );
        }
    }
    assert!(checked > 0, "no database file in {}", dir.display());
}

#[tokio::test]
async fn graceful_shutdown_writes_every_accepted_event() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("log.db");
    // A long flush interval: only the shutdown can have written these.
    let host = Host::builder()
        .config("log.path", log.to_string_lossy().into_owned())
        .config("log.flush_interval_ms", 600_000)
        .start()
        .await;
    let mut ids = BTreeSet::new();
    for _ in 0..25 {
        let (status, _, id) = post(&host, "/api/v1/messages", &hook(NUMBER, "sms")).await;
        assert_eq!(status, 200);
        ids.insert(id.expect("id"));
    }
    let stats = host.server().state().log.stats();
    assert_eq!((stats.accepted, stats.written), (25, 0), "{stats:?}");
    host.shutdown().await;
    let reopened = DeliveryLog::open(&LogConfig {
        path: log,
        ..LogConfig::default()
    })
    .expect("opens");
    let page = reopened
        .query(Query {
            limit: 500,
            ..Query::default()
        })
        .await
        .expect("query");
    let stored: BTreeSet<String> = page.events.into_iter().map(|e| e.id).collect();
    assert_eq!(stored, ids);
}

#[tokio::test]
async fn a_read_only_database_does_not_stop_sending_and_is_counted() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("log.db");
    DeliveryLog::open(&LogConfig {
        path: log.clone(),
        ..LogConfig::default()
    })
    .expect("creates")
    .close()
    .await;
    let read_only = ReadOnly::apply(&log);
    let host = Host::builder()
        .config("log.path", log.to_string_lossy().into_owned())
        .config("log.flush_interval_ms", 20)
        .start()
        .await;
    let series = r#"phonehook_log_events_dropped_total{reason="write_failed"}"#;
    let before = sample(&metrics(&host).await, series);
    for _ in 0..10 {
        let (status, body, id) = post(&host, "/api/v1/messages", &hook(NUMBER, "sms")).await;
        assert_eq!(status, 200, "{body}");
        assert!(id.is_some());
    }
    assert_eq!(host.inbox().await.len(), 10, "every message was delivered");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let dropped = sample(&metrics(&host).await, series) - before;
        if dropped >= 10.0 {
            break;
        }
        assert!(Instant::now() < deadline, "drops not counted: {dropped}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = host.server().state().log.stats();
    assert_eq!(
        (stats.written, stats.dropped_write_failed),
        (0, 10),
        "{stats:?}"
    );
    // Writable again: the next message is recorded, without a restart.
    drop(read_only);
    let (status, body, _) = post(&host, "/api/v1/messages", &hook(NUMBER, "sms")).await;
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while host.server().state().log.stats().written < 1 {
        assert!(
            Instant::now() < deadline,
            "recording did not resume: {:?}",
            host.server().state().log.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn metrics_move_when_messages_flow_and_plugins_reload() {
    let builder = Host::builder()
        .config("watch.debounce_ms", 50)
        .config("watch.settle_ms", 50);
    std::fs::create_dir_all(builder.plugin_dir()).expect("dir");
    std::fs::copy(
        plugins::library("fixture-echo-v1"),
        builder.plugin_dir().join("libecho.so"),
    )
    .expect("copy");
    let host = builder.start().await;
    let delivered =
        r#"phonehook_messages_total{plugin="sandbox",channel="sms",outcome="delivered"}"#;
    let failed =
        r#"phonehook_messages_total{plugin="sandbox",channel="voice",outcome="vendor_error"}"#;
    let latency = r#"phonehook_vendor_latency_seconds_count{plugin="sandbox"}"#;
    let written = "phonehook_log_events_written_total";
    let before = metrics(&host).await;
    for _ in 0..3 {
        assert_eq!(
            post(&host, "/api/v1/messages", &hook(NUMBER, "sms"))
                .await
                .0,
            200
        );
    }
    assert_eq!(
        post(&host, "/api/v1/messages", &hook(REFUSED, "voice"))
            .await
            .0,
        502
    );
    logs(&host, "").await; // the query flushes the log
    let after = metrics(&host).await;
    for (series, at_least) in [
        (delivered, 3.0),
        (failed, 1.0),
        (latency, 3.0),
        (written, 4.0),
    ] {
        assert!(
            sample(&after, series) - sample(&before, series) >= at_least,
            "{series}:\n{after}"
        );
    }
    assert!(
        after.contains("# TYPE phonehook_vendor_latency_seconds histogram"),
        "{after}"
    );
    assert!(
        after.contains(r#"phonehook_active_plugin_generation{plugin="sandbox"}"#),
        "{after}"
    );

    let reloads = r#"phonehook_plugin_reloads_total{plugin="echo"}"#;
    let refused = r#"phonehook_plugin_reload_failures_total{plugin="libbroken.so"}"#;
    let v2 = plugins::library("fixture-echo-v2");
    let scratch = host
        .plugin_dir()
        .parent()
        .expect("parent")
        .join("libecho.so.new");
    std::fs::copy(&v2, &scratch).expect("copy v2");
    std::fs::rename(&scratch, host.plugin_dir().join("libecho.so")).expect("rename");
    host.wait_for_sha("echo", &sha256_file(&v2)).await;
    std::fs::write(
        host.plugin_dir().join("libbroken.so"),
        b"not a shared library",
    )
    .expect("write");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = metrics(&host).await;
        if sample(&page, reloads) - sample(&before, reloads) >= 1.0 && sample(&page, refused) >= 1.0
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reload metrics did not move:\n{page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_disabled_log_still_sends() {
    let host = Host::builder().config("log.enabled", false).start().await;
    let (status, _, id) = post(&host, "/api/v1/messages", &hook(NUMBER, "sms")).await;
    assert_eq!(status, 200);
    assert!(
        id.is_some(),
        "the id still names the attempt in the server's log lines"
    );
    let (status, body) = host.admin("GET", "/api/v1/logs", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("log_disabled")),
        "{body}"
    );
}

/// `phonehook serve` in its own process, so everything it writes to stderr
/// can be read: no line may hold the code, a token or a full number, and the
/// event id of each attempt must appear (its tracing span). `phonehook logs`
/// reads the log back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_log_lines_hold_no_code_token_or_number_and_the_cli_reads_the_log() {
    let server = serve_sandbox();
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for (number, channel) in [(NUMBER, "sms"), (REFUSED, "sms"), (NUMBER, "voice")] {
        let resp = client
            .post(format!("{}/api/v1/messages", server.url))
            .bearer_auth(SEND)
            .json(&hook(number, channel))
            .send()
            .await
            .expect("answers");
        ids.push(
            resp.headers()
                .get(EVENT_ID)
                .and_then(|v| v.to_str().ok())
                .expect("id")
                .to_owned(),
        );
    }
    let table = cli(&server, &["logs"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[0].starts_with("TIME") && lines[0].contains("RECIPIENT"),
        "{table}"
    );
    assert!(
        lines[1].contains("gd_send_voice") && lines[1].contains(&ids[2]),
        "{table}"
    );
    assert!(
        lines[2].contains("gd_send_sms_failure")
            && lines[2].contains("vendor_error [invalid_number]"),
        "{table}"
    );
    let failures = cli(
        &server,
        &[
            "logs",
            "--type",
            "gd_send_sms_failure",
            "--recipient",
            REFUSED,
            "--json",
        ],
    );
    let page: Value = serde_json::from_str(&failures).expect("json");
    assert_eq!(page["events"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["events"][0]["id"], ids[1].as_str());
    let paged = cli(&server, &["logs", "--limit", "2", "--json"]);
    let cursor = serde_json::from_str::<Value>(&paged).expect("json")["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let rest = cli(
        &server,
        &["logs", "--limit", "2", "--cursor", &cursor, "--json"],
    );
    assert_eq!(
        serde_json::from_str::<Value>(&rest).expect("json")["events"][0]["id"],
        ids[0].as_str()
    );

    let (stderr, db_dir) = server.stop();
    for id in &ids {
        assert!(
            stderr.contains(id.as_str()),
            "event {id} is in no log line:\n{stderr}"
        );
    }
    let mut forbidden: Vec<String> = spellings(NUMBER)
        .into_iter()
        .chain(spellings(REFUSED))
        .collect();
    forbidden.extend([CODE, SEND, ADMIN, "Your code is"].map(str::to_owned));
    for needle in &forbidden {
        assert!(
            !stderr.contains(needle.as_str()),
            "{needle} in the server's log:\n{stderr}"
        );
    }
    assert_clean(db_dir.path());
}

/// The sandbox, with both tokens and JSON log lines, served by the binary.
fn serve_sandbox() -> Served {
    let dir = tempfile::tempdir().expect("dir");
    let plugin_dir = served::plugin_dir(dir.path(), &["phonehook-plugin-sandbox"]);
    let toml = format!(
        "listen = \"127.0.0.1:0\"\nplugin_dir = {:?}\nstaging_dir = {:?}\nlog_format = \"json\"\n\
         send_token = {SEND:?}\nadmin_token = {ADMIN:?}\n[log]\npath = {:?}\n",
        plugin_dir,
        dir.path().join("staging"),
        dir.path().join("log.db"),
    );
    Served::start(dir, &toml)
}

/// Runs the CLI against the server (off the async runtime); its stdout.
fn cli(server: &Served, args: &[&str]) -> String {
    let mut cmd = Command::new(plugins::host_binary());
    cmd.args(args)
        .args(["--url", &server.url, "--token", ADMIN]);
    let out = std::thread::scope(|s| {
        s.spawn(|| cmd.output().expect("runs"))
            .join()
            .expect("joins")
    });
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes a file unwritable even for root, who ignores file modes (CI often
/// runs as root): mode 0444, plus the immutable attribute when the mode alone
/// does not stop this process. Undone on drop.
struct ReadOnly {
    path: PathBuf,
    immutable: bool,
}

/// `FS_IMMUTABLE_FL` from `linux/fs.h`.
const FS_IMMUTABLE_FL: libc::c_int = 0x10;

impl ReadOnly {
    fn apply(path: &Path) -> ReadOnly {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).expect("chmod");
        let mut guard = ReadOnly {
            path: path.to_path_buf(),
            immutable: false,
        };
        if writable(path) {
            set_immutable(path, true).expect("the immutable attribute (root ignores file modes)");
            guard.immutable = true;
        }
        assert!(
            !writable(path),
            "cannot make {} read-only here",
            path.display()
        );
        guard
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.immutable {
            let _ = set_immutable(&self.path, false);
        }
        let _ = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o644));
    }
}

fn writable(path: &Path) -> bool {
    std::fs::OpenOptions::new().write(true).open(path).is_ok()
}

fn set_immutable(path: &Path, on: bool) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path)?;
    let mut flags: libc::c_int = 0;
    // SAFETY: both ioctls take a pointer to an int, which `flags` is, on an
    // open file descriptor that outlives the calls.
    unsafe {
        if libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        flags = if on {
            flags | FS_IMMUTABLE_FL
        } else {
            flags & !FS_IMMUTABLE_FL
        };
        if libc::ioctl(file.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
