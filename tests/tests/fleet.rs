//! Several instances on one real PostgreSQL server (a private cluster per
//! test, `phonehook_e2e::postgres`): an activation on one reaches the
//! others under load without a failed message; a plugin some instance lacks
//! is refused unless forced; one delivery log; a per-number limit and an
//! idempotency key that hold across instances; the database stopping in
//! the middle of a run; two instances starting at once on an empty
//! database.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use phonehook_e2e::contract;
use phonehook_e2e::mocks::twilio::{self, Twilio};
use phonehook_e2e::postgres::PgCluster;
use phonehook_e2e::{Host, HostBuilder, MockVendor};
use serde_json::{json, Value};

/// Generous: the figure itself is measured by `benches/fleet.rs`; a test
/// only proves convergence happens, on a machine that may be busy.
const CONVERGE_WITHIN: Duration = Duration::from_secs(15);

async fn twilio_mock() -> MockVendor {
    MockVendor::start(twilio::router(Twilio::new())).await
}

/// An instance with Twilio (against `mock`) and the sandbox loaded, the
/// sandbox active, on the shared store at `db`.
fn instance(db: &str, mock: &MockVendor) -> HostBuilder {
    contract::host("twilio", &mock.url())
        .active("sandbox")
        .config("store", db)
        .config("log.flush_interval_ms", 20)
}

async fn start_all(builders: Vec<HostBuilder>) -> Vec<Host> {
    let mut hosts = Vec::new();
    for b in builders {
        hosts.push(b.start().await);
    }
    hosts
}

async fn shutdown_all(hosts: Vec<Host>) {
    for h in hosts {
        h.shutdown().await;
    }
}

fn hook(number: &str) -> Value {
    json!({"recipient": number, "text": "Your code is 493817", "context": {"message_type": "sms"}})
}

async fn health(host: &Host) -> Value {
    let (status, body) = host.request_with("GET", "/healthz", None, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Polls every host's `/healthz` until `done` holds for all of them.
async fn until_all(hosts: &[Host], what: &str, done: impl Fn(&Value) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let mut all = true;
        let mut last = Value::Null;
        for h in hosts {
            let body = health(h).await;
            if !done(&body) {
                all = false;
                last = body;
                break;
            }
        }
        if all {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < CONVERGE_WITHIN,
            "not every instance reached {what} within {CONVERGE_WITHIN:?}: {last}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Load: `workers` tasks sending to the hosts in turn until stopped; each
/// answer's status is counted.
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(hosts: &[Host], workers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let urls: Vec<String> = hosts.iter().map(|h| h.url().to_owned()).collect();
        let client = reqwest::Client::new();
        let tasks = (0..workers)
            .map(|w| {
                let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
                let (urls, client) = (urls.clone(), client.clone());
                tokio::spawn(async move {
                    let mut errors = Vec::new();
                    let mut i = w;
                    while !stop.load(Ordering::Relaxed) {
                        let url = &urls[i % urls.len()];
                        let number = format!("+1415555{:04}", i % 10_000);
                        let resp = client
                            .post(format!("{url}/api/v1/messages"))
                            .json(&hook(&number))
                            .send()
                            .await;
                        sent.fetch_add(1, Ordering::Relaxed);
                        match resp {
                            Ok(r) if r.status() == 200 => {}
                            Ok(r) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                let status = r.status();
                                errors.push(format!(
                                    "{status}: {}",
                                    r.text().await.unwrap_or_default()
                                ));
                            }
                            Err(e) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                errors.push(e.to_string());
                            }
                        }
                        i += 7;
                    }
                    errors
                })
            })
            .collect();
        Load {
            stop,
            sent,
            failed,
            tasks,
        }
    }

    /// Stops; returns (sent, failures with their answers).
    async fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut errors = Vec::new();
        for t in self.tasks {
            errors.extend(t.await.expect("load task"));
        }
        assert_eq!(self.failed.load(Ordering::Relaxed) as usize, errors.len());
        (self.sent.load(Ordering::Relaxed), errors)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_activation_on_one_instance_reaches_every_instance_under_load() {
    let pg = PgCluster::start();
    let db = pg.create_database("activation");
    let mock = twilio_mock().await;
    let hosts = start_all((0..3).map(|_| instance(&db, &mock)).collect()).await;

    let (status, body) = hosts[1].admin("GET", "/api/v1/instances", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["store"], "postgres");
    let listed = body["instances"].as_array().expect("instances");
    // Heartbeats are written every second; each instance wrote one at start.
    assert_eq!(listed.len(), 3, "every live instance is listed: {body}");
    for i in listed {
        let names: Vec<&str> = i["plugins"]
            .as_array()
            .expect("plugins")
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(
            names.contains(&"twilio") && names.contains(&"sandbox"),
            "{i}"
        );
        assert!(
            i["plugins"][0]["sha256"]
                .as_str()
                .is_some_and(|s| s.len() == 64),
            "{i}"
        );
    }

    let load = Load::start(&hosts, 12);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = hosts[0]
        .admin(
            "PUT",
            "/api/v1/active-plugin",
            Some(json!({"name": "twilio"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let generation = body["config_generation"]
        .as_i64()
        .expect("a shared generation");
    let took = until_all(&hosts, "twilio", |h| {
        h["active_plugin"] == "twilio" && h["config_generation"] == generation
    })
    .await;
    eprintln!("activation reached all three instances in {took:?}");
    let before = mock.requests().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (sent, errors) = load.finish().await;
    assert!(
        errors.is_empty(),
        "{} of {sent} failed: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert!(
        mock.requests().len() > before,
        "after the swap, messages reach Twilio"
    );

    // Each instance rewrites its heartbeat row as soon as it applied the
    // change; the listing shows every one on the new generation.
    let start = Instant::now();
    loop {
        let (_, body) = hosts[2].admin("GET", "/api/v1/instances", None).await;
        if body["converged"] == true && body["config_generation"] == generation {
            break;
        }
        assert!(start.elapsed() < CONVERGE_WITHIN, "{body}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown_all(hosts).await;
}

/// The events `host`'s log query returns for `query`, once there are `n`.
async fn until_logged(host: &Host, query: &str, n: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let (status, body) = host
            .admin("GET", &format!("/api/v1/logs?{query}"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        let events = body["events"].as_array().cloned().unwrap_or_default();
        if events.len() >= n {
            return events;
        }
        assert!(
            start.elapsed() < CONVERGE_WITHIN,
            "{n} events for {query} expected: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_query_on_any_instance_sees_every_instances_events() {
    let pg = PgCluster::start();
    let db = pg.create_database("one_log");
    let mock = twilio_mock().await;
    let hosts = start_all((0..3).map(|_| instance(&db, &mock)).collect()).await;
    let mut ids = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        let (status, body) = h.send(hook(&format!("+1415555030{i}"))).await;
        assert_eq!(status, 200, "{body}");
        ids.push(body["MessageID"].as_str().expect("an id").to_owned());
    }
    ids.sort();
    for h in &hosts {
        let events = until_logged(h, "type=gd_send_sms", 3).await;
        let mut logged: Vec<String> = events
            .iter()
            .filter_map(|e| e["vendor_message_id"].as_str().map(str::to_owned))
            .collect();
        logged.sort();
        assert_eq!(logged, ids, "{events:?}");
    }
    // A full number finds its events on any instance: every instance
    // hashes numbers with the key the store keeps.
    let found = until_logged(&hosts[2], "recipient=%2B14155550300", 1).await;
    assert_eq!(found.len(), 1, "{found:?}");
    shutdown_all(hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_per_number_limit_of_5_holds_across_three_instances() {
    let pg = PgCluster::start();
    let db = pg.create_database("limits");
    let mock = twilio_mock().await;
    let hosts = start_all(
        (0..3)
            .map(|_| {
                instance(&db, &mock)
                    .guard()
                    .config("guard.per_number.limit", 5)
                    .config("guard.backoff.after", 0)
            })
            .collect(),
    )
    .await;
    // 15 to one number, taking turns among the instances. (Concurrent
    // admissions on one key are `tests/store_shared_guard.rs`'s, with a
    // database time limit a busy test machine cannot exceed; here each
    // admission must stay within the server's own 500 ms.)
    let mut answers = Vec::new();
    for i in 0..15 {
        answers.push(hosts[i % 3].send(hook("+14155550177")).await);
    }
    let admitted = answers.iter().filter(|(s, _)| *s == 200).count();
    let limited: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 429)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(admitted, 5, "{answers:?}");
    assert_eq!(limited.len(), 10, "{answers:?}");
    assert!(
        limited.iter().all(|b| b["error"]["rule"] == "per_number"),
        "{limited:?}"
    );
    for h in &hosts {
        assert_eq!(
            health(h).await["status"],
            "ok",
            "no instance fell back to its own counters"
        );
    }
    shutdown_all(hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_on_another_instance_gets_the_first_answer_and_one_vendor_request() {
    let pg = PgCluster::start();
    let db = pg.create_database("retries");
    let mock = twilio_mock().await;
    let hosts = start_all(
        (0..3)
            .map(|_| instance(&db, &mock).active("twilio").idempotency())
            .collect(),
    )
    .await;
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for h in &hosts {
        let resp = client
            .post(format!("{}/api/v1/messages", h.url()))
            .header("idempotency-key", "auth0-retry-42")
            .json(&hook("+14155550188"))
            .send()
            .await
            .expect("answers");
        assert_eq!(resp.status(), 200);
        let replay = resp.headers().contains_key("x-phonehook-replay");
        let body: Value = resp.json().await.expect("json");
        ids.push((body["MessageID"].as_str().expect("id").to_owned(), replay));
    }
    assert_eq!(
        mock.requests().len(),
        1,
        "one vendor request for three calls"
    );
    assert!(ids.iter().all(|(id, _)| *id == ids[0].0), "{ids:?}");
    assert_eq!(
        ids.iter().map(|(_, r)| *r).collect::<Vec<_>>(),
        [false, true, true],
        "the repeats are replays: {ids:?}"
    );
    shutdown_all(hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_some_live_instance_lacks_is_refused_unless_forced() {
    let pg = PgCluster::start();
    let db = pg.create_database("skew");
    let mock = twilio_mock().await;
    let lacking = Host::builder()
        .config("store", db.as_str())
        .config("instance_name", "without-twilio");
    let hosts = start_all(vec![instance(&db, &mock), instance(&db, &mock), lacking]).await;

    let (status, body) = hosts[0]
        .admin(
            "PUT",
            "/api/v1/active-plugin",
            Some(json!({"name": "twilio"})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["error"]["code"], "plugin_missing_on_instances",
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("without-twilio")),
        "{body}"
    );
    for h in &hosts {
        assert_eq!(
            health(h).await["active_plugin"],
            "sandbox",
            "nothing changed"
        );
    }

    let (status, body) = hosts[0]
        .admin(
            "PUT",
            "/api/v1/active-plugin",
            Some(json!({"name": "twilio", "force": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let generation = body["config_generation"].clone();
    until_all(&hosts, "the forced generation", |h| {
        h["config_generation"] == generation
    })
    .await;
    assert_eq!(health(&hosts[1]).await["active_plugin"], "twilio");
    // The instance without the plugin keeps serving what it served.
    assert_eq!(health(&hosts[2]).await["active_plugin"], "sandbox");
    let (status, _) = hosts[2].send(hook("+14155550100")).await;
    assert_eq!(status, 200);
    shutdown_all(hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fallback_chain_changes_on_every_instance() {
    let pg = PgCluster::start();
    let db = pg.create_database("fallback");
    let mock = twilio_mock().await;
    let hosts = start_all((0..2).map(|_| instance(&db, &mock)).collect()).await;
    let (status, body) = hosts[1]
        .admin(
            "PUT",
            "/api/v1/fallback",
            Some(json!({"fallback": ["twilio"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let start = Instant::now();
    loop {
        let (_, body) = hosts[0].admin("GET", "/api/v1/fallback", None).await;
        if body["fallback"] == json!(["twilio"]) {
            assert_eq!(body["source"], "api", "{body}");
            break;
        }
        assert!(start.elapsed() < CONVERGE_WITHIN, "{body}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shutdown_all(hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_stopping_mid_load_fails_no_message_and_instances_converge_after() {
    let pg = PgCluster::start();
    let db = pg.create_database("outage");
    let mock = twilio_mock().await;
    let hosts = start_all((0..3).map(|_| instance(&db, &mock)).collect()).await;
    let load = Load::start(&hosts, 6);
    tokio::time::sleep(Duration::from_millis(300)).await;

    pg.stop();
    until_all(&hosts, "degraded", |h| h["status"] == "degraded").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    pg.start_again();
    until_all(&hosts, "ok again", |h| h["status"] == "ok").await;

    // A change made after the outage reaches every instance.
    let (status, body) = hosts[2]
        .admin(
            "PUT",
            "/api/v1/active-plugin",
            Some(json!({"name": "twilio"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    until_all(&hosts, "twilio", |h| h["active_plugin"] == "twilio").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (sent, errors) = load.finish().await;
    assert!(
        errors.is_empty(),
        "{} of {sent} failed: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );

    // The log resumes: a message sent now is found from another instance.
    let (status, body) = hosts[0].send(hook("+14155550399")).await;
    assert_eq!(status, 200, "{body}");
    until_logged(&hosts[1], "recipient=%2B14155550399", 1).await;
    // What the outage cost is counted, not hidden: the events that could
    // not be written.
    let (_, metrics) = hosts[0].admin("GET", "/metrics", None).await;
    let page = metrics.as_str().unwrap_or_default().to_owned();
    let dropped = phonehook::metrics::sample(
        &page,
        "phonehook_log_events_dropped_total{reason=\"write_failed\"}",
    );
    eprintln!("log events dropped while the database was down: {dropped:?}, of {sent} messages");
    assert!(
        dropped.is_some_and(|n| n > 0.0),
        "the outage's lost events are counted: {dropped:?}"
    );
    shutdown_all(hosts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_down_a_change_is_refused_not_made_locally() {
    let pg = PgCluster::start();
    let db = pg.create_database("refused");
    let mock = twilio_mock().await;
    let host = instance(&db, &mock).start().await;
    pg.stop();
    let (status, body) = host
        .admin(
            "PUT",
            "/api/v1/active-plugin",
            Some(json!({"name": "twilio"})),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    assert_eq!(health(&host).await["active_plugin"], "sandbox");
    assert_eq!(health(&host).await["status"], "degraded");
    pg.start_again();
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_starting_at_once_on_an_empty_database_share_one_schema() {
    let pg = PgCluster::start();
    let db = pg.create_database("empty");
    let mock = twilio_mock().await;
    let (a, b) = tokio::join!(instance(&db, &mock).start(), instance(&db, &mock).start());
    let (client, connection) = tokio_postgres::connect(&db, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT version, count(*) FROM schema_version GROUP BY version ORDER BY version",
            &[],
        )
        .await
        .expect("schema_version");
    let versions: Vec<(i32, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let known = phonehook::store::migrations::latest();
    assert_eq!(versions.len() as i32, known, "{versions:?}");
    assert!(
        versions.iter().all(|(_, n)| *n == 1),
        "each migration once: {versions:?}"
    );
    let control: i64 = client
        .query_one("SELECT generation FROM control", &[])
        .await
        .expect("control row")
        .get(0);
    assert_eq!(control, 1, "one seed, not two");
    assert_eq!(health(&a).await["config_generation"], 1);
    assert_eq!(health(&b).await["config_generation"], 1);
    a.shutdown().await;
    b.shutdown().await;
}
