//! The real `phonehook` binary: graceful shutdown on SIGTERM lets a message in
//! flight finish, a host killed outright does not stop the next one from
//! serving, and `phonehook send` runs one message through one plugin.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use phonehook_e2e::served::{self, Served};
use phonehook_e2e::{plugins, MockVendor};
use serde_json::json;

/// A vendor (echo's inbox shape) that holds every request until released.
fn holding_vendor(release: Arc<tokio::sync::Notify>, arrived: Arc<AtomicBool>) -> axum::Router {
    axum::Router::new().route(
        "/sandbox/messages",
        axum::routing::post(move || {
            let (release, arrived) = (release.clone(), arrived.clone());
            async move {
                arrived.store(true, Ordering::SeqCst);
                release.notified().await;
                (
                    axum::http::StatusCode::CREATED,
                    axum::Json(json!({"id": "late"})),
                )
            }
        }),
    )
}

fn write_config(dir: &Path, port: u16, vendor: &str) -> std::path::PathBuf {
    let plugin_dir = dir.join("plugins");
    std::fs::create_dir_all(&plugin_dir).expect("dir");
    std::fs::copy(
        plugins::library("fixture-echo-v1"),
        plugin_dir.join("libecho.so"),
    )
    .expect("copy");
    let config = format!(
        "listen = \"127.0.0.1:{port}\"\nplugin_dir = \"{}\"\nactive_plugin = \"echo\"\n[log]\npath = \"{}\"\n[plugins.echo.settings]\nbase_url = \"{vendor}\"\n",
        plugin_dir.display(),
        dir.join("log.db").display()
    );
    let path = dir.join("phonehook.toml");
    std::fs::write(&path, config).expect("config");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_message_in_flight_finish() {
    let release = Arc::new(tokio::sync::Notify::new());
    let arrived = Arc::new(AtomicBool::new(false));
    let mock = MockVendor::start(holding_vendor(release.clone(), arrived.clone())).await;
    let dir = tempfile::tempdir().expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("probe")
        .local_addr()
        .expect("addr")
        .port();
    let config = write_config(dir.path(), port, &mock.url());
    let mut child = Command::new(plugins::host_binary())
        .args(["serve", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    while !line.contains("phonehook listening") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).expect("log line") > 0,
            "exited before listening"
        );
    }

    let url = format!("http://127.0.0.1:{port}/api/v1/messages");
    let in_flight = tokio::spawn(async move {
        let resp = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(json!({"recipient": "+14155552671", "text": "Your code is 123456"}).to_string())
            .send()
            .await
            .expect("answered");
        (
            resp.status().as_u16(),
            resp.text().await.unwrap_or_default(),
        )
    });
    while !arrived.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        child.try_wait().expect("wait").is_none(),
        "the process waits for the message in flight"
    );
    // A new connection is no longer accepted while draining.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "stopped accepting"
    );

    release.notify_waiters();
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .expect("in time")
        .expect("task");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("v1:late"), "{body}");
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("exit");
    assert!(exit.success(), "clean exit: {exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_runs_one_message_through_one_plugin() {
    let mock = MockVendor::start(axum::Router::new().route(
        "/sandbox/messages",
        axum::routing::post(|| async {
            (
                axum::http::StatusCode::CREATED,
                axum::Json(json!({"id": "cli-1"})),
            )
        }),
    ))
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(dir.path(), 1, &mock.url());
    let bin = plugins::host_binary();
    let run = move |args: Vec<&'static str>| {
        let out = Command::new(&bin)
            .arg("send")
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .expect("runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, stdout) = tokio::task::spawn_blocking({
        let run = run.clone();
        move || {
            run(vec![
                "--plugin",
                "echo",
                "--to",
                "+1 415 555 2671",
                "--text",
                "Your code is 123456",
            ])
        }
    })
    .await
    .expect("join");
    assert!(ok, "{stdout}");
    assert!(
        stdout.starts_with("delivered: MessageID=v1:cli-1"),
        "{stdout}"
    );
    let received = mock.last();
    assert_eq!(received.json()["to"], "+14155552671");

    let (ok, stdout) = tokio::task::spawn_blocking(move || {
        run(vec!["--plugin", "echo", "--to", "nope", "--text", "x"])
    })
    .await
    .expect("join");
    assert!(!ok, "a bad number fails: {stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_host_leaves_nothing_that_stops_the_next_one() {
    let dir = tempfile::tempdir().expect("dir");
    let plugin_dir = served::plugin_dir(dir.path(), &["phonehook-plugin-sandbox"]);
    let staging = dir.path().join("staging");
    let toml = format!(
        "listen = \"127.0.0.1:0\"\nplugin_dir = {plugin_dir:?}\nstaging_dir = {staging:?}\n\
         active_plugin = \"sandbox\"\nlog_format = \"json\"\n[log]\npath = {:?}\n",
        dir.path().join("log.db"),
    );
    let send = |url: String| async move {
        reqwest::Client::new()
            .post(format!("{url}/api/v1/messages"))
            .json(&json!({"recipient": "+14155552671", "text": "Your code is 123456"}))
            .send()
            .await
            .expect("answered")
            .status()
            .as_u16()
    };

    let first = Served::start(dir, &toml);
    assert_eq!(send(first.url.clone()).await, 200);
    let dir = first.kill();
    let left = served::file_names(&staging);
    assert_eq!(left.len(), 2, "a directory and its lock: {left:?}");

    // Before the sweep, a restart into the same directory could not stage
    // its copy (the dead host's file had the same name) and served 503.
    let second = Served::start(dir, &toml);
    assert_eq!(send(second.url.clone()).await, 200);
    let now = served::file_names(&staging);
    assert!(
        !now.iter().any(|n| left.contains(n)),
        "swept: {left:?} -> {now:?}"
    );
    let (log, dir) = second.stop();
    assert!(
        log.lines()
            .any(|l| l.contains("left by hosts that did not stop cleanly")
                && l.contains("\"swept\":1")),
        "{log}"
    );
    assert!(!log.contains("plugin refused"), "{log}");
    assert_eq!(
        served::file_names(&staging),
        Vec::<String>::new(),
        "a clean stop removes its own"
    );
    drop(dir);
}
