//! What a new user meets in the first hour, through real servers and the real
//! binary: foreign `PHONEHOOK_*` variables, a mistyped active plugin or plugin
//! table, the wrong plugin directory, errors that say their cause once, every
//! documented `action`, the README's inbox filter, the inbox's own token,
//! `phonehook status` and a quiet `phonehook send`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use phonehook_e2e::{plugins, served, Host};
use serde_json::{json, Value};

const SEND: &str = "send-token-5d1e0c8b7a69f432";
const ADMIN: &str = "admin-token-0f9e8d7c6b5a4321";

/// A plugin directory (private, as the host requires) holding the sandbox.
fn plugin_dir(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    std::fs::set_permissions(&plugins, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::copy(
        plugins::library("phonehook-plugin-sandbox"),
        plugins.join("libphonehook_plugin_sandbox.so"),
    )
    .expect("copy sandbox");
    plugins
}

/// A configuration file serving the sandbox on a free port, plus `extra`.
fn config_file(dir: &Path, extra: &str) -> (PathBuf, u16) {
    let port = free_port();
    let text = format!(
        "listen = \"127.0.0.1:{port}\"\nplugin_dir = \"{}\"\n{extra}\n[log]\npath = \"{}\"\n",
        plugin_dir(dir).display(),
        dir.join("log.db").display()
    );
    let path = dir.join("phonehook.toml");
    std::fs::write(&path, text).expect("write config");
    (path, port)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("probe")
        .local_addr()
        .expect("addr")
        .port()
}

/// A `phonehook` child process whose stderr lines are collected as they come.
struct Process {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Process {
    fn spawn(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> Process {
        let mut cmd = Command::new(plugins::host_binary());
        cmd.args(args)
            .current_dir(cwd)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("phonehook starts");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        Process { child, lines }
    }

    fn stderr(&self) -> String {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }

    /// Waits (generously: the machine is shared) until a stderr line holds
    /// `needle`; panics with everything it said otherwise.
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.stderr().contains(needle) {
            if let Some(status) = self.child.try_wait().expect("wait") {
                panic!(
                    "exited ({status}) before saying {needle:?}:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "never said {needle:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to exit on its own; one still running after a
    /// minute is a server that should have refused to start.
    fn exit(mut self) -> (bool, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return (status.success(), self.stderr());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("still running, expected it to refuse:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(mut self) {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// A test that fails half-way must not leave its server running.
impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_starts_beside_foreign_variables_and_warns_about_unknown_names() {
    let dir = tempfile::tempdir().expect("dir");
    let (config, port) = config_file(dir.path(), "[plugins.acmee.settings]\nfrom = \"Acme\"\n");
    let config = config.to_string_lossy().into_owned();
    let mut serve = Process::spawn(
        &["serve", "--config", &config],
        &[
            // The CLI's own (README: the default for --url), ignored silently.
            ("PHONEHOOK_URL", "http://127.0.0.1:1"),
            ("PHONEHOOK_CONFIG", &config),
            // A deployment's own, and a typo of a nested key: warned about.
            ("PHONEHOOK_DEPLOYMENT", "blue"),
            ("PHONEHOOK_LOG__PATHH", "/nowhere"),
        ],
        dir.path(),
    );
    serve.wait_for("phonehook listening");
    let health = reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz"))
        .expect("answers")
        .json::<Value>()
        .expect("json");
    assert_eq!(health["active_plugin"], "sandbox", "{health}");

    let log = serve.stderr();
    let warned = |needle: &str| {
        log.lines()
            .any(|l| l.contains("WARN") && l.contains(needle))
    };
    for name in ["PHONEHOOK_DEPLOYMENT", "PHONEHOOK_LOG__PATHH"] {
        assert!(warned(name), "{name} is named in a warning:\n{log}");
    }
    for name in ["PHONEHOOK_URL", "PHONEHOOK_CONFIG"] {
        assert!(!log.contains(name), "{name} is the CLI's own:\n{log}");
    }
    // A table for a plugin that is not loaded, naming the loaded ones; at
    // start and again when the file is reloaded.
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("acmee") && l.contains("sandbox")),
        "{log}"
    );
    let text = std::fs::read_to_string(&config).expect("read config");
    std::fs::write(&config, text.replace("acmee", "acmeee")).expect("edit config");
    serve.wait_for("acmeee");
    serve.stop();
}

#[test]
fn serve_refuses_a_wrong_start_in_one_clear_line() {
    let dir = tempfile::tempdir().expect("dir");
    let (config, _) = config_file(dir.path(), "");
    let config = config.to_string_lossy().into_owned();
    let empty = dir.path().join("src-plugins");
    std::fs::create_dir(&empty).expect("empty dir");
    let empty = empty.to_string_lossy().into_owned();
    let missing = dir.path().join("missing").to_string_lossy().into_owned();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = taken.local_addr().expect("addr").to_string();
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[vendor]\ntimeout = 5\n").expect("write");
    let typo = typo.to_string_lossy().into_owned();

    let closed = format!("http://127.0.0.1:{}", free_port());
    let long = "a-long-enough-token-0123";
    // (arguments, environment, what the error says, what it says once)
    type Case<'a> = (
        &'a [&'a str],
        &'a [(&'a str, &'a str)],
        &'a [&'a str],
        &'a str,
    );
    let cases: [Case; 8] = [
        (
            &["serve", "--config", &config, "--active", "twillio"],
            &[],
            &["twillio", "sandbox"],
            "twillio",
        ),
        (
            &["serve", "--config", &config, "--plugin-dir", &empty],
            &[],
            &[&empty, "no plugin libraries", "--plugin-dir target/debug"],
            "no plugin libraries",
        ),
        (
            &["serve", "--config", &config, "--plugin-dir", &missing],
            &[],
            &[&missing],
            "No such file or directory",
        ),
        (
            &["serve", "--config", &config, "--listen", &taken],
            &[],
            &[&taken],
            "Address already in use",
        ),
        (
            &["serve", "--config", &typo],
            &[],
            &["`vendor.timeout`"],
            "vendor.timeout",
        ),
        // The client's error names the URL once, not in its context again.
        (
            &["status", "--url", &closed],
            &[],
            &["Connection refused"],
            &closed,
        ),
        // Beyond loopback a blank token is no token, a short one is refused.
        (
            &["serve", "--config", &config, "--listen", "0.0.0.0:0"],
            &[
                ("PHONEHOOK_SEND_TOKEN", " "),
                ("PHONEHOOK_ADMIN_TOKEN", long),
            ],
            &["refusing to listen", "send_token is not set"],
            "refusing to listen",
        ),
        (
            &["serve", "--config", &config, "--listen", "0.0.0.0:0"],
            &[
                ("PHONEHOOK_SEND_TOKEN", long),
                ("PHONEHOOK_ADMIN_TOKEN", "short-token"),
            ],
            &["refusing to listen", "admin_token is shorter than 16"],
            "refusing to listen",
        ),
    ];
    for (argv, env, says, once) in cases {
        let (ok, stderr) = Process::spawn(argv, env, dir.path()).exit();
        assert!(!ok, "{argv:?} refuses to start:\n{stderr}");
        for needle in says {
            assert!(
                stderr.contains(needle),
                "{argv:?} names {needle:?}:\n{stderr}"
            );
        }
        assert_eq!(
            stderr.matches(once).count(),
            1,
            "{argv:?} says {once:?} once:\n{stderr}"
        );
        assert!(!stderr.contains("default."), "{argv:?}:\n{stderr}");
    }
}

fn hook(number: &str, context: Value) -> Value {
    json!({"recipient": number, "text": "Your code is 123456", "context": context})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_action_and_client_placement_is_delivered_and_recorded() {
    let host = Host::builder().start().await;
    let cases = [
        // (context, action recorded, client id recorded)
        (
            json!({"action": "enrollment", "client": {"client_id": "c-enroll"}}),
            "enrollment",
            "c-enroll",
        ),
        (
            json!({"action": "second-factor-authentication", "client": {"client_id": "c-2fa"}}),
            "second-factor-authentication",
            "c-2fa",
        ),
        // Auth0's Twilio and Infobip guides: `authentication`, `factor_type`,
        // and the client's fields directly under `context`.
        (
            json!({"action": "authentication", "factor_type": "second", "client_id": "c-auth2"}),
            "authentication",
            "c-auth2",
        ),
        (
            json!({"action": "authentication", "factor_type": "first", "client_id": "c-auth1", "name": "App"}),
            "authentication",
            "c-auth1",
        ),
        // Unknown: delivered and recorded as it came, not refused.
        (
            json!({"action": "step-up", "client_id": "c-unknown"}),
            "step-up",
            "c-unknown",
        ),
    ];
    for (context, _, _) in &cases {
        let (status, body) = host.send(hook("+14155550100", context.clone())).await;
        assert_eq!(status, 200, "{context}: {body}");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for (context, action, client) in cases {
        loop {
            let (status, page) = host
                .admin("GET", &format!("/api/v1/logs?client_id={client}"), None)
                .await;
            assert_eq!(status, 200, "{page}");
            if let Some(event) = page["events"].as_array().and_then(|e| e.first()) {
                assert_eq!(event["action"], action, "{context}: {event}");
                assert_eq!(event["type"], "gd_send_sms", "{context}: {event}");
                break;
            }
            assert!(Instant::now() < deadline, "{context} was never recorded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn inbox_count(host: &Host, query: &str) -> (u16, usize) {
    let (status, body) = host
        .admin("GET", &format!("/sandbox/messages{query}"), None)
        .await;
    (status, body["messages"].as_array().map_or(0, |m| m.len()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_filter_reads_plus_and_a_bad_filter_deletes_nothing() {
    let host = Host::builder().start().await;
    for number in ["+14155550100", "+14155550100", "+14155550101"] {
        let (status, body) = host.send(hook(number, json!({}))).await;
        assert_eq!(status, 200, "{body}");
    }
    let reads = [
        // (query, status, messages)
        ("", 200, 3),
        ("?to=+14155550100", 200, 2),
        ("?to=%2B14155550100", 200, 2),
        ("?to=+1+415+555+0101", 200, 1),
        ("?to=+19999999999", 200, 0),
        ("?to=nonsense", 422, 0),
    ];
    for (query, status, count) in reads {
        assert_eq!(
            inbox_count(&host, query).await,
            (status, count),
            "GET {query}"
        );
    }
    let deletes = [
        // (query, status, deleted, left)
        ("?to=+19999999999", 200, Some(0), 3),
        ("?to=nonsense", 422, None, 3),
        ("?to=+14155550101", 200, Some(1), 2),
        ("", 200, Some(2), 0),
    ];
    for (query, status, deleted, left) in deletes {
        let (got, body) = host
            .admin("DELETE", &format!("/sandbox/messages{query}"), None)
            .await;
        assert_eq!(got, status, "DELETE {query}: {body}");
        assert_eq!(body["deleted"].as_u64(), deleted, "DELETE {query}: {body}");
        assert_eq!(
            inbox_count(&host, "").await,
            (200, left),
            "after DELETE {query}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_takes_only_the_hosts_token_when_tokens_are_set() {
    let fake = json!({"to": "+14155550100", "text": "Your code is 000000"});
    for tokens in [true, false] {
        let mut builder = Host::builder();
        if tokens {
            builder = builder
                .config("send_token", SEND)
                .config("admin_token", ADMIN);
        }
        let host = builder.start().await;
        let cases: [(Option<&str>, u16); 4] = [
            // (bearer, status)
            (None, if tokens { 401 } else { 201 }),
            (Some("wrong"), if tokens { 401 } else { 201 }),
            (Some(SEND), if tokens { 401 } else { 201 }),
            (Some(ADMIN), if tokens { 401 } else { 201 }),
        ];
        for (bearer, status) in cases {
            let (got, body) = host
                .request_with("POST", "/sandbox/messages", Some(fake.clone()), bearer)
                .await;
            assert_eq!(got, status, "tokens {tokens}, bearer {bearer:?}: {body}");
        }
        // The sandbox plugin, given the host's token, still delivers.
        let (status, body) = host.send(hook("+14155550102", json!({}))).await;
        assert_eq!(status, 200, "tokens {tokens}: {body}");
        let (_, listed) = host
            .admin("GET", "/sandbox/messages?to=+14155550102", None)
            .await;
        assert_eq!(listed["messages"][0]["text"], "Your code is 123456");
        let forged = if tokens { 0 } else { 4 };
        assert_eq!(
            inbox_count(&host, "?to=+14155550100").await,
            (200, forged),
            "tokens {tokens}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_are_what_blocks_activation_said_once_and_shown_by_status() {
    let host = Host::builder()
        .plugin("phonehook-plugin-infobip")
        .plugin("phonehook-plugin-twilio")
        .plugin("phonehook-plugin-vonage")
        .plugin("phonehook-plugin-esendex")
        .plugin("phonehook-plugin-sns")
        .plugin("phonehook-plugin-telesign")
        .plugin("phonehook-plugin-webhook")
        .plugin("phonehook-plugin-template")
        // Twilio usable, with its optional API key and secret unset.
        .secret(
            "twilio",
            "TWILIO_ACCOUNT_SID",
            "AC0123456789abcdef0123456789abcdef",
        )
        .secret("twilio", "TWILIO_AUTH_TOKEN", "auth-token-0123456789")
        .secret("twilio", "TWILIO_PHONE_NUMBER", "+15005550006")
        // The template with its secret but not its required `from`.
        .secret("template", "TEMPLATE_API_TOKEN", "tok-0123456789")
        .start()
        .await;
    let plugins = host.plugins().await;
    let plugins = plugins["plugins"].as_array().cloned().unwrap_or_default();
    let problems = |name: &str| -> Vec<String> {
        plugins
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["problems"].as_array())
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    // Each missing required secret is named by exactly one problem.
    for p in &plugins {
        let list = problems(p["name"].as_str().unwrap_or_default());
        for secret in p["secrets"].as_array().into_iter().flatten() {
            let name = secret["name"].as_str().unwrap_or_default();
            let naming = list
                .iter()
                .filter(|l| l.contains(&format!("`{name}`")))
                .count();
            if secret["required"] == true && secret["set"] == false {
                assert_eq!(naming, 1, "{}: {name} once: {list:?}", p["name"]);
            }
        }
    }
    assert!(problems("twilio").is_empty(), "{:?}", problems("twilio"));
    assert!(
        problems("template").iter().any(|p| p.contains("`from`")),
        "{:?}",
        problems("template")
    );
    assert!(problems("webhook").len() >= 2, "{:?}", problems("webhook"));

    // `phonehook status` prints exactly those problems, and no optional secret.
    let bin = plugins::host_binary();
    let url = host.url().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args(["status", "--url", &url])
            .output()
            .expect("runs")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    for name in ["template", "webhook", "infobip", "vonage"] {
        for problem in problems(name) {
            assert!(
                stdout.contains(&format!("problem: {problem}")),
                "{name}: {problem}:\n{stdout}"
            );
        }
    }
    let printed = stdout.matches("problem: ").count();
    let total: usize = plugins
        .iter()
        .map(|p| problems(p["name"].as_str().unwrap_or_default()).len())
        .sum();
    assert_eq!(printed, total, "{stdout}");
    assert!(!stdout.contains("TWILIO_API_KEY"), "optional: {stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_is_quiet_and_writes_nothing() {
    let inbox = Host::builder().start().await;
    let dir = tempfile::tempdir().expect("dir");
    let (config, _) = config_file(
        dir.path(),
        &format!(
            "[plugins.sandbox.settings]\nbase_url = \"{}\"\n",
            inbox.url()
        ),
    );
    // No [log] path of its own: the default, phonehook-log.db, would land in
    // the working directory.
    let text = std::fs::read_to_string(&config).expect("read");
    let text = text.split("[log]").next().unwrap_or_default().to_owned();
    std::fs::write(&config, text).expect("write");
    let cwd = tempfile::tempdir().expect("cwd");
    let (bin, cwd_path) = (plugins::host_binary(), cwd.path().to_path_buf());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .arg("send")
            .arg("--config")
            .arg(&config)
            .args([
                "--plugin",
                "sandbox",
                "--to",
                "+14155550103",
                "--text",
                "Your code is 4711",
            ])
            .current_dir(cwd_path)
            .env_remove("RUST_LOG")
            .output()
            .expect("runs")
    })
    .await
    .expect("join");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.starts_with("delivered: MessageID=sbx_"), "{stdout}");
    assert!(!stderr.contains("INFO"), "quiet unless asked:\n{stderr}");
    let left = served::file_names(cwd.path());
    assert!(left.is_empty(), "wrote {left:?}");
}

#[test]
fn test_fixtures_stay_out_of_the_quick_starts_plugin_directory() {
    let quick_start = plugins::target_dir().join("debug");
    for fixture in [
        "fixture-echo-v1",
        "fixture-echo-v2",
        "fixture-misbehaving",
        "fixture-nosymbol",
        "fixture-abi-drift",
    ] {
        let lib = plugins::library(fixture);
        assert!(lib.is_file(), "{fixture} is built: {}", lib.display());
        assert_ne!(
            lib.parent(),
            Some(quick_start.as_path()),
            "{fixture} would be served by `phonehook serve --plugin-dir target/debug`"
        );
    }
}

/// A plugin that panics is one log line naming where, even with
/// `RUST_BACKTRACE=1`: the plugin's copy of `std` must not print the panic
/// (and a backtrace of hundreds of lines) to the server's stderr.
#[test]
fn a_plugin_panic_is_one_log_line_even_with_rust_backtrace() {
    let dir = tempfile::tempdir().expect("dir");
    let (config, port) = config_file(dir.path(), "active_plugin = \"misbehaving\"\n");
    std::fs::copy(
        plugins::library("fixture-misbehaving"),
        dir.path().join("plugins").join("libfixture_misbehaving.so"),
    )
    .expect("copy fixture");
    let config = config.to_string_lossy().into_owned();
    let mut serve = Process::spawn(
        &["serve", "--config", &config],
        &[("RUST_BACKTRACE", "1")],
        dir.path(),
    );
    serve.wait_for("phonehook listening");
    let answer = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/messages"))
        .json(
            &json!({"recipient": "+14155550100", "text": "Your code is 123456",
                      "context": {"message_type": "sms"}}),
        )
        .send()
        .expect("answer");
    assert_eq!(answer.status().as_u16(), 500, "a contained panic is a 500");
    serve.wait_for("plugin panicked in prepare at ");
    let stderr = serve.stderr();
    serve.stop();
    assert!(
        stderr.contains("lib.rs:") && stderr.contains("fixture panics in prepare"),
        "names where and why:\n{stderr}"
    );
    for noise in ["stack backtrace", "panicked at", "note: run with"] {
        assert!(
            !stderr.contains(noise),
            "{noise:?} reached stderr:\n{stderr}"
        );
    }
}
