//! Hot reload and live swaps under load: new builds arrive in the watched
//! directory by each of the usual ways, admins swap providers through the API
//! and the configuration file, and no message fails.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use phonehook_e2e::arrival::{sha256_file, write_slowly, Arrival};
use phonehook_e2e::{plugins, Host, MockVendor};
use serde_json::{json, Value};

const ECHO_FILE: &str = "libecho.so";

fn v1() -> PathBuf {
    plugins::library("fixture-echo-v1")
}
fn v2() -> PathBuf {
    plugins::library("fixture-echo-v2")
}

fn hook(n: usize) -> Value {
    json!({"recipient": "+14155552671", "text": format!("Your code is {n:06}")})
}

/// A host with `echo` v1 (as `libecho.so`) and the sandbox, `active` active.
async fn host_with_echo(active: &str) -> Host {
    let builder = Host::builder()
        .active(active)
        .config("watch.debounce_ms", 50)
        .config("watch.settle_ms", 50);
    std::fs::create_dir_all(builder.plugin_dir()).expect("dir");
    std::fs::copy(v1(), builder.plugin_dir().join(ECHO_FILE)).expect("copy v1");
    builder.start().await
}

#[derive(Default)]
struct Tally {
    sent: AtomicUsize,
    failed: Mutex<Vec<String>>,
    ids: Mutex<Vec<(bool, String)>>,
}

impl Tally {
    /// The answers (whether sent after the swap, message id), after
    /// asserting that no message failed.
    fn answers(&self) -> Vec<(bool, String)> {
        let failed = std::mem::take(&mut *self.failed.lock().unwrap());
        assert!(
            failed.is_empty(),
            "{} failed, e.g. {:?}",
            failed.len(),
            failed.first()
        );
        std::mem::take(&mut *self.ids.lock().unwrap())
    }
}

/// Sends continuously from `workers` tasks until `stop`, at most `max` messages.
/// Each result is recorded with whether `swapped` was already set when the
/// message was sent.
async fn load(
    host: Arc<Host>,
    workers: usize,
    max: usize,
    stop: Arc<AtomicBool>,
    swapped: Arc<AtomicBool>,
) -> Arc<Tally> {
    let tally = Arc::new(Tally::default());
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (host, stop, swapped, tally) =
            (host.clone(), stop.clone(), swapped.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let n = tally.sent.fetch_add(1, Ordering::SeqCst);
                if n >= max {
                    break;
                }
                let after_swap = swapped.load(Ordering::SeqCst);
                let (status, body) = host.send(hook(n)).await;
                match body["MessageID"].as_str() {
                    Some(id) if status == 200 => {
                        tally.ids.lock().unwrap().push((after_swap, id.to_owned()))
                    }
                    _ => tally
                        .failed
                        .lock()
                        .unwrap()
                        .push(format!("{status} {body}")),
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    tally
}

fn version_of(id: &str) -> &str {
    id.split(':').next().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reloads_under_load_lose_nothing() {
    let host = Arc::new(host_with_echo("echo").await);
    let scratch =
        tempfile::tempdir_in(host.plugin_dir().parent().expect("parent")).expect("scratch");
    let dst = host.plugin_dir().join(ECHO_FILE);
    let (stop, never) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let load = tokio::spawn(load(host.clone(), 16, 50_000, stop.clone(), never));

    let mut last = v1();
    for i in 0..20 {
        let next = if i % 2 == 0 { v2() } else { v1() };
        let way = Arrival::ALL[i % 4];
        let (src, dst, scratch) = (next.clone(), dst.clone(), scratch.path().to_path_buf());
        tokio::task::spawn_blocking(move || way.deliver(&src, &dst, &scratch))
            .await
            .expect("deliver");
        host.wait_for_sha("echo", &sha256_file(&next)).await;
        last = next;
    }
    stop.store(true, Ordering::SeqCst);
    let tally = load.await.expect("load");

    let ids = tally.answers();
    assert!(
        ids.len() >= 100,
        "the load ran while reloading: {} messages",
        ids.len()
    );
    assert!(
        ids.iter()
            .all(|(_, id)| matches!(version_of(id), "v1" | "v2")),
        "answered by v1 or v2"
    );
    let saw_v2 = ids.iter().any(|(_, id)| version_of(id) == "v2");
    assert!(saw_v2, "v2 served some of the load");

    // 20 reloads of alternating content: 21 loads in all, each one real.
    let echo = host.plugin("echo").await.expect("echo listed");
    assert_eq!(echo["loads"], 21, "{echo}");
    assert_eq!(echo["last_error"], Value::Null, "{echo}");

    let want = if last == v1() { "v1" } else { "v2" };
    for n in 0..20 {
        let (status, body) = host.send(hook(n)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            version_of(body["MessageID"].as_str().unwrap_or_default()),
            want,
            "{body}"
        );
    }
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    assert!(
        !maps.contains(&*host.plugin_dir().to_string_lossy()),
        "a watched file is mapped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broken_build_dropped_in_mid_load_is_refused_and_v1_keeps_serving() {
    let host = Arc::new(host_with_echo("echo").await);
    let (stop, never) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let load = tokio::spawn(load(host.clone(), 8, 50_000, stop.clone(), never));
    tokio::time::sleep(Duration::from_millis(100)).await;

    let bytes = std::fs::read(v2()).expect("v2");
    let tmp = host.plugin_dir().join("libecho.so.part");
    std::fs::write(&tmp, &bytes[..bytes.len() / 2]).expect("write half");
    std::fs::rename(&tmp, host.plugin_dir().join(ECHO_FILE)).expect("rename");
    let body = host
        .wait_until("echo's last_error", Duration::from_secs(20), |b| {
            b["plugins"].as_array().is_some_and(|ps| {
                ps.iter().any(|p| {
                    p["name"] == "echo"
                        && p["last_error"]
                            .as_str()
                            .is_some_and(|e| e.contains("truncated"))
                })
            })
        })
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::SeqCst);
    let tally = load.await.expect("load");
    assert!(tally.answers().iter().all(|(_, id)| version_of(id) == "v1"));
    let echo = body["plugins"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "echo"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(echo["status"], "loaded_with_errors", "{echo}");
    assert_eq!(echo["version"], "1", "{echo}");
}

async fn swap_under_load(via_config: bool) {
    let host = Arc::new(host_with_echo("sandbox").await);
    let (stop, swapped) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let load = tokio::spawn(load(
        host.clone(),
        16,
        50_000,
        stop.clone(),
        swapped.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;

    if via_config {
        let text = std::fs::read_to_string(host.config_path()).expect("config");
        let text = text.replace("active_plugin = \"sandbox\"", "active_plugin = \"echo\"");
        let tmp = host.config_path().with_extension("tmp");
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, host.config_path()).expect("rename");
        host.wait_until("echo active", Duration::from_secs(20), |b| {
            b["active"] == "echo"
        })
        .await;
    } else {
        let (status, body) = host
            .admin(
                "PUT",
                "/api/v1/active-plugin",
                Some(json!({"name": "echo"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (body["active"].as_str(), body["previous"].as_str()),
            (Some("echo"), Some("sandbox"))
        );
    }
    swapped.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let tally = load.await.expect("load");

    let ids = tally.answers();
    let after: Vec<&String> = ids
        .iter()
        .filter(|(after, _)| *after)
        .map(|(_, id)| id)
        .collect();
    assert!(!after.is_empty(), "messages were sent after the swap");
    assert!(
        after.iter().all(|id| id.starts_with("v1:")),
        "after the swap only echo answers: {:?}",
        after.iter().find(|id| !id.starts_with("v1:"))
    );
    assert!(
        ids.iter().any(|(_, id)| id.starts_with("sbx_")),
        "the sandbox served before the swap"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swapping_through_the_api_under_load_loses_nothing() {
    swap_under_load(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swapping_through_the_config_file_under_load_loses_nothing() {
    swap_under_load(true).await;
}

/// Reloads of one plugin race with activations of it and of another while
/// messages flow: both plugins are healthy throughout, so no message fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reloads_racing_with_activations_lose_nothing() {
    let host = Arc::new(host_with_echo("echo").await);
    let scratch =
        tempfile::tempdir_in(host.plugin_dir().parent().expect("parent")).expect("scratch");
    let (stop, never) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let load = tokio::spawn(load(host.clone(), 12, 50_000, stop.clone(), never));

    let reloads = {
        let (dst, scratch) = (
            host.plugin_dir().join(ECHO_FILE),
            scratch.path().to_path_buf(),
        );
        tokio::spawn(async move {
            for i in 0..12 {
                let (src, dst, scratch) = (
                    if i % 2 == 0 { v2() } else { v1() },
                    dst.clone(),
                    scratch.clone(),
                );
                let way = Arrival::ALL[i % 4];
                tokio::task::spawn_blocking(move || way.deliver(&src, &dst, &scratch))
                    .await
                    .expect("deliver");
                // Around the debounce window, so some reloads land mid-activation.
                tokio::time::sleep(Duration::from_millis(40 + 17 * (i as u64 % 5))).await;
            }
        })
    };
    let mut activations = 0;
    for i in 0..30 {
        let name = if i % 2 == 0 { "sandbox" } else { "echo" };
        let (status, body) = host
            .admin("PUT", "/api/v1/active-plugin", Some(json!({"name": name})))
            .await;
        // By design a plugin whose file is gone leaves when another is
        // activated; a file caught between its removal and its replacement
        // (install, cargo's remove-then-link) can make echo briefly unknown.
        // Nothing else may refuse an activation, and no message may fail.
        let briefly_unknown = name == "echo" && body["error"]["code"] == "unknown_plugin";
        assert!(
            status == 200 || briefly_unknown,
            "activating {name}: {status} {body}"
        );
        activations += usize::from(status == 200);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    reloads.await.expect("reloads");
    // The last file written was v1 (i = 11); wait until it serves, then let the load run on.
    host.wait_for_sha("echo", &sha256_file(&v1())).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::SeqCst);
    let tally = load.await.expect("load");

    let ids = tally.answers();
    assert!(
        ids.len() >= 100,
        "the load ran throughout: {} messages",
        ids.len()
    );
    assert!(
        ids.iter().any(|(_, id)| id.starts_with("sbx_")),
        "the sandbox served some"
    );
    assert!(
        ids.iter().any(|(_, id)| version_of(id) == "v2"),
        "echo v2 served some"
    );
    assert!(
        activations >= 24,
        "only {activations} of 30 activations went through"
    );
    let echo = host.plugin("echo").await.expect("echo listed");
    assert_eq!(echo["last_error"], Value::Null, "{echo}");
}

/// A vendor that holds the first request until released.
fn holding_vendor(release: Arc<tokio::sync::Notify>, held: Arc<AtomicBool>) -> axum::Router {
    axum::Router::new().route(
        "/sandbox/messages",
        axum::routing::post(move || {
            let (release, held) = (release.clone(), held.clone());
            async move {
                if !held.swap(true, Ordering::SeqCst) {
                    release.notified().await;
                }
                (
                    axum::http::StatusCode::CREATED,
                    axum::Json(json!({"id": "held"})),
                )
            }
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_in_flight_finishes_on_the_old_version_which_is_then_unloaded() {
    let release = Arc::new(tokio::sync::Notify::new());
    let held = Arc::new(AtomicBool::new(false));
    let mock = MockVendor::start(holding_vendor(release.clone(), held.clone())).await;
    let builder = Host::builder()
        .active("echo")
        .setting("echo", "base_url", mock.url())
        .config("watch.debounce_ms", 50)
        .config("watch.settle_ms", 50);
    std::fs::create_dir_all(builder.plugin_dir()).expect("dir");
    std::fs::copy(v1(), builder.plugin_dir().join(ECHO_FILE)).expect("copy");
    let host = Arc::new(builder.start().await);
    let old_copy = host
        .server()
        .state()
        .registry
        .active()
        .expect("active")
        .generation
        .staged_path()
        .to_path_buf();

    let first = {
        let host = host.clone();
        tokio::spawn(async move { host.send(hook(1)).await })
    };
    while !held.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Arrival::RenameIntoPlace.deliver(&v2(), &host.plugin_dir().join(ECHO_FILE), host.plugin_dir());
    host.wait_for_sha("echo", &sha256_file(&v2())).await;

    let (status, body) = host.send(hook(2)).await;
    assert_eq!(
        (status, body["MessageID"].as_str()),
        (200, Some("v2:held")),
        "new messages go to v2"
    );
    assert!(
        is_mapped(&old_copy),
        "v1 stays loaded while its message is in flight"
    );

    release.notify_one();
    let (status, body) = first.await.expect("first");
    assert_eq!(
        (status, body["MessageID"].as_str()),
        (200, Some("v1:held")),
        "the held message finished on v1"
    );
    // The last reference went with that message: v1 is really unloaded.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while is_mapped(&old_copy) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!is_mapped(&old_copy), "v1 was unloaded after draining");
    assert!(!old_copy.exists(), "its staged copy was removed");
}

fn is_mapped(path: &Path) -> bool {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap_or_default()
        .contains(&*path.to_string_lossy())
}

#[tokio::test]
async fn a_slowly_written_file_is_loaded_exactly_once() {
    let host = host_with_echo("echo").await;
    let dst = host.plugin_dir().join(ECHO_FILE);
    let src = v2();
    tokio::task::spawn_blocking(move || write_slowly(&src, &dst, 40, Duration::from_millis(15)))
        .await
        .expect("write");
    host.wait_for_sha("echo", &sha256_file(&v2())).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let echo = host.plugin("echo").await.expect("echo");
    assert_eq!(echo["loads"], 2, "one load at start, one reload: {echo}");
    assert_eq!(
        echo["last_error"],
        Value::Null,
        "never a load of a partial file: {echo}"
    );
}

#[tokio::test]
async fn unchanged_content_is_no_reload_and_a_deleted_file_keeps_serving() {
    let host = host_with_echo("echo").await;
    let dst = host.plugin_dir().join(ECHO_FILE);
    Arrival::CopyOver.deliver(&v1(), &dst, host.plugin_dir());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(host.plugin("echo").await.expect("echo")["loads"], 1);

    std::fs::remove_file(&dst).expect("rm");
    host.wait_until("echo file gone", Duration::from_secs(20), |b| {
        b["plugins"].as_array().is_some_and(|ps| {
            ps.iter()
                .any(|p| p["name"] == "echo" && p["file_present"] == false)
        })
    })
    .await;
    let (status, body) = host.send(hook(1)).await;
    assert_eq!(status, 200, "the loaded copy still serves: {body}");
    assert!(body["MessageID"]
        .as_str()
        .unwrap_or_default()
        .starts_with("v1:"));

    // Activating another plugin lets the orphan go.
    let (status, _) = host
        .admin(
            "PUT",
            "/api/v1/active-plugin",
            Some(json!({"name": "sandbox"})),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        host.plugin("echo").await.is_none(),
        "echo is gone once nothing uses it"
    );
}
