//! Live control as an admin meets it, on the real `phonehook serve` process:
//! an API swap holds while the configuration file is edited and survives a
//! restart, the file is reloaded only when its content changes, however it
//! and the plugin directory are named; an idle server reads nothing; every
//! documented metric is listed from the start; log lines are plain text.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use phonehook_e2e::arrival::{sha256_file, Arrival};
use phonehook_e2e::plugins;
use serde_json::{json, Value};

const SANDBOX: &str = "phonehook-plugin-sandbox";
const ECHO_V1: &str = "fixture-echo-v1";
const ECHO_V2: &str = "fixture-echo-v2";

/// Generous: this machine is slow and shared.
const PATIENCE: Duration = Duration::from_secs(30);

/// A directory with `plugins/` holding the sandbox and echo v1 (as
/// `libecho.so`), and a `phonehook.toml` written from `extra` lines.
struct Setup {
    dir: tempfile::TempDir,
    /// Lines for the `[log]` table.
    log: String,
}

impl Setup {
    fn new(extra: &str) -> Setup {
        Setup::with_log(extra, "")
    }

    fn with_log(extra: &str, log: &str) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let plugin_dir = dir.path().join("plugins");
        std::fs::create_dir(&plugin_dir).expect("plugin dir");
        for (package, file) in [
            (SANDBOX, "libphonehook_plugin_sandbox.so"),
            (ECHO_V1, "libecho.so"),
        ] {
            std::fs::copy(plugins::library(package), plugin_dir.join(file)).expect("copy");
        }
        let setup = Setup {
            dir,
            log: log.to_owned(),
        };
        setup.write_config(extra);
        setup
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn plugin_dir(&self) -> PathBuf {
        self.path().join("plugins")
    }

    fn config(&self) -> PathBuf {
        self.path().join("phonehook.toml")
    }

    /// The configuration: JSON log lines (parsed below), quick watching, the
    /// delivery log in the directory, then `extra`.
    fn config_text(&self, extra: &str) -> String {
        format!(
            "listen = \"127.0.0.1:0\"\nlog_format = \"json\"\n{extra}\n\
             [watch]\ndebounce_ms = 50\nsettle_ms = 50\n\
             [log]\npath = \"{}\"\n{}\n",
            self.path().join("log.db").display(),
            self.log
        )
    }

    /// Writes the file in place (truncate and write, as an editor may).
    fn write_config(&self, extra: &str) {
        std::fs::write(self.config(), self.config_text(extra)).expect("write config");
    }

    /// Writes a temporary file and renames it over the configuration.
    fn rename_config(&self, extra: &str) {
        let tmp = self.path().join("phonehook.toml.tmp");
        std::fs::write(&tmp, self.config_text(extra)).expect("write tmp");
        std::fs::rename(&tmp, self.config()).expect("rename");
    }

    /// `phonehook serve ARGS` with this directory as working directory.
    fn serve(&self, args: &[&str]) -> Serve {
        Serve::start(self.command(args))
    }

    /// [`Setup::serve`] with `RUST_LOG=level`.
    fn serve_at(&self, level: &str, args: &[&str]) -> Serve {
        let mut command = self.command(args);
        command.env("RUST_LOG", level);
        Serve::start(command)
    }

    /// The server's command line, free of the caller's `RUST_LOG` and
    /// `PHONEHOOK_ACTIVE_PLUGIN`.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(plugins::host_binary());
        command
            .arg("serve")
            .args(args)
            .current_dir(self.path())
            .env_remove("RUST_LOG")
            .env_remove("PHONEHOOK_ACTIVE_PLUGIN");
        command
    }
}

/// A running `phonehook serve` child process.
struct Serve {
    child: Child,
    url: String,
    lines: Arc<Mutex<Vec<String>>>,
    http: reqwest::blocking::Client,
}

impl Serve {
    fn start(mut command: Command) -> Serve {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("phonehook starts");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if line.contains("phonehook listening") {
                        let _ = tx.send(line.clone());
                    }
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let listening = rx.recv_timeout(PATIENCE).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "no `phonehook listening` line:\n{}",
                lines.lock().unwrap().join("\n")
            )
        });
        Serve {
            child,
            url: format!("http://{}", listening_addr(&listening)),
            lines,
            http: reqwest::blocking::Client::new(),
        }
    }

    fn get(&self, path: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .expect("answers");
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().expect("json")
    }

    fn text(&self, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .and_then(|r| r.text())
            .expect("answers")
    }

    fn activate(&self, name: &str) -> Value {
        let resp = self
            .http
            .put(format!("{}/api/v1/active-plugin", self.url))
            .json(&json!({ "name": name }))
            .send()
            .expect("answers");
        assert_eq!(resp.status().as_u16(), 200, "activating {name}");
        resp.json().expect("json")
    }

    fn active(&self) -> Value {
        self.get("/api/v1/active-plugin")
    }

    fn plugin(&self, name: &str) -> Value {
        self.get("/api/v1/plugins")["plugins"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
            .unwrap_or_default()
    }

    /// Polls `probe` until `done` holds; panics after [`PATIENCE`].
    fn wait_for<T: std::fmt::Debug>(
        &self,
        what: &str,
        probe: impl Fn(&Serve) -> T,
        done: impl Fn(&T) -> bool,
    ) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let seen = probe(self);
            if done(&seen) {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {seen:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many log lines contain `needle`.
    fn count(&self, needle: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Bytes the process has read so far (files, pipes, sockets).
    fn read_bytes(&self) -> u64 {
        let io = std::fs::read_to_string(format!("/proc/{}/io", self.child.id())).expect("io");
        io.lines()
            .find_map(|l| l.strip_prefix("rchar:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("rchar")
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) {
        // SAFETY: sending a signal to our own child process.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) },
            0
        );
        let deadline = Instant::now() + PATIENCE;
        while self.child.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < deadline, "did not stop:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in the `phonehook listening` line, JSON or human format (with
/// or without colour codes).
fn listening_addr(line: &str) -> String {
    let at = line.find("127.0.0.1:").expect("an address on loopback");
    line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect()
}

#[test]
fn an_api_swap_holds_while_other_keys_of_the_file_change() {
    let setup = Setup::new("active_plugin = \"sandbox\"\n[vendor]\ntimeout_ms = 10000");
    let config = setup.config();
    let serve = setup.serve(&["--config", config.to_str().expect("utf-8")]);

    // A harmless key changes: the file is reloaded once.
    setup.write_config("active_plugin = \"sandbox\"\n[vendor]\ntimeout_ms = 9000");
    serve.wait_for(
        "the edit to be applied",
        |s| s.count("configuration reloaded"),
        |n| *n >= 1,
    );
    let swapped = serve.activate("echo");
    assert_eq!(
        (&swapped["active"], &swapped["previous"], &swapped["source"]),
        (&json!("echo"), &json!("sandbox"), &json!("api")),
        "{swapped}"
    );

    // Another key changes, and time passes: the swap holds, and nothing was
    // reloaded without a change of content.
    setup.rename_config("active_plugin = \"sandbox\"\n[vendor]\ntimeout_ms = 8000");
    serve.wait_for(
        "the second edit to be applied",
        |s| s.count("configuration reloaded"),
        |n| *n >= 2,
    );
    std::thread::sleep(Duration::from_secs(3));
    let active = serve.active();
    assert_eq!(
        (&active["name"], &active["source"], &active["since"]),
        (&json!("echo"), &json!("api"), &swapped["since"]),
        "{active}\n{}",
        serve.log()
    );
    assert_eq!(
        serve.count("configuration reloaded"),
        2,
        "one reload per edit:\n{}",
        serve.log()
    );
    let status = Command::new(plugins::host_binary())
        .args(["status", "--url", &serve.url])
        .env_remove("PHONEHOOK_ADMIN_TOKEN")
        .output()
        .expect("status runs");
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.contains("active: echo (source: api, since "),
        "{status}"
    );
    let metrics = serve.text("/metrics");
    assert_eq!(
        phonehook::metrics::sample(&metrics, "phonehook_config_reloads_total"),
        Some(2.0),
        "{metrics}"
    );

    // A change of the configured value itself takes over from the API.
    setup.write_config("active_plugin = \"echo\"\n[vendor]\ntimeout_ms = 8000");
    let active = serve.wait_for(
        "the configuration to take over",
        |s| s.active(),
        |a| a["source"] == "configuration",
    );
    assert_eq!(active["name"], "echo", "{active}");
}

#[test]
fn a_configuration_named_by_a_bare_file_name_is_watched() {
    let setup = Setup::new("plugin_dir = \"plugins\"\nactive_plugin = \"sandbox\"");
    let serve = setup.serve(&["--config", "phonehook.toml"]);
    type Edit = fn(&Setup, &str);
    let edits: [(&str, Edit, &str); 2] = [
        ("written in place", Setup::write_config, "echo"),
        ("renamed into place", Setup::rename_config, "sandbox"),
    ];
    for (how, edit, name) in edits {
        edit(
            &setup,
            &format!("plugin_dir = \"plugins\"\nactive_plugin = \"{name}\""),
        );
        serve.wait_for(
            &format!("{name} to be active after an edit {how}"),
            |s| s.active()["name"].clone(),
            |n| *n == name,
        );
    }
}

#[test]
fn a_relative_plugin_dir_reloads_a_new_build() {
    let cases: [(&str, &[&str]); 3] = [
        ("plugin_dir = \"plugins\"", &[]),
        ("plugin_dir = \"./plugins\"", &[]),
        ("", &["--plugin-dir", "plugins"]),
    ];
    let v2 = plugins::library(ECHO_V2);
    let v2_sha = sha256_file(&v2);
    for (line, flags) in cases {
        let setup = Setup::new(&format!("{line}\nactive_plugin = \"echo\""));
        let mut args = vec!["--config", "phonehook.toml"];
        args.extend_from_slice(flags);
        let serve = setup.serve(&args);
        let scratch = setup.path().join("scratch");
        std::fs::create_dir(&scratch).expect("scratch");
        Arrival::RenameIntoPlace.deliver(&v2, &setup.plugin_dir().join("libecho.so"), &scratch);
        let echo = serve.wait_for(
            &format!("v2 to serve ({line} {flags:?})"),
            |s| s.plugin("echo"),
            |p| p["sha256"] == v2_sha.as_str(),
        );
        std::thread::sleep(Duration::from_secs(1));
        let later = serve.plugin("echo");
        assert_eq!(
            (&later["generation"], &later["loads"], &later["last_error"]),
            (&echo["generation"], &json!(2), &Value::Null),
            "one reload, then quiet ({line} {flags:?}): {later}"
        );
    }
}

#[test]
fn an_idle_server_reads_nothing_after_reloads_and_refused_files() {
    let setup = Setup::new("active_plugin = \"echo\"");
    let absolute = format!("plugin_dir = \"{}\"", setup.plugin_dir().display());
    setup.write_config(&format!("{absolute}\nactive_plugin = \"echo\""));
    let config = setup.config();
    let serve = setup.serve(&["--config", config.to_str().expect("utf-8")]);
    let v2 = plugins::library(ECHO_V2);
    let scratch = setup.path().join("scratch");
    std::fs::create_dir(&scratch).expect("scratch");
    Arrival::CopyOver.deliver(&v2, &setup.plugin_dir().join("libecho.so"), &scratch);
    serve.wait_for(
        "v2 to serve",
        |s| s.plugin("echo")["sha256"].clone(),
        |sha| *sha == sha256_file(&v2).as_str(),
    );
    let bytes = std::fs::read(&v2).expect("v2");
    let refused = [
        ("libnot-elf.so", b"not a library".to_vec()),
        ("libhalf.so", bytes[..bytes.len() / 2].to_vec()),
    ];
    for (file, content) in &refused {
        // Renamed into place, so each file has one content (a slow write
        // would be seen, and refused, at several lengths).
        let part = setup.plugin_dir().join(format!("{file}.part"));
        std::fs::write(&part, content).expect("write");
        std::fs::rename(&part, setup.plugin_dir().join(file)).expect("rename");
    }
    for (file, _) in &refused {
        serve.wait_for(
            &format!("{file} to be refused"),
            |s| s.plugin(file)["status"].clone(),
            |status| *status == "failed",
        );
    }

    std::thread::sleep(Duration::from_millis(500));
    let before = serve.read_bytes();
    std::thread::sleep(Duration::from_secs(2));
    let read = serve.read_bytes() - before;
    assert!(
        read < 64 * 1024,
        "an idle server read {read} bytes in 2 s\n{}",
        serve.log()
    );
    for (file, _) in &refused {
        assert_eq!(
            serve.count(&format!("{file}\"")),
            1,
            "{file} is reported once:\n{}",
            serve.log()
        );
    }
}

#[test]
fn an_api_swap_survives_a_restart_unless_the_configuration_changed_meanwhile() {
    // (log enabled, where the swap is stored, active after the restart, source)
    let cases = [(true, "echo", "api"), (false, "sandbox", "configuration")];
    for (log_enabled, want, source) in cases {
        let setup = Setup::with_log(
            "active_plugin = \"sandbox\"",
            &format!("enabled = {log_enabled}"),
        );
        let config = setup.config();
        let args = ["--config", config.to_str().expect("utf-8")];
        let serve = setup.serve(&args);
        let swapped = serve.activate("echo");
        serve.stop();

        let serve = setup.serve(&args);
        let active = serve.active();
        assert_eq!(
            (&active["name"], &active["source"]),
            (&json!(want), &json!(source)),
            "log enabled: {log_enabled}: {active}\n{}",
            serve.log()
        );
        if log_enabled {
            assert_eq!(active["since"], swapped["since"], "{active}");
        } else {
            assert_eq!(serve.count("are not persisted"), 1, "{}", serve.log());
        }
        serve.stop();
    }
}

#[test]
fn a_configured_value_changed_while_the_server_was_down_wins() {
    let setup = Setup::new("active_plugin = \"sandbox\"");
    let config = setup.config();
    let args = ["--config", config.to_str().expect("utf-8")];
    let serve = setup.serve(&args);
    serve.activate("echo");
    serve.stop();

    setup.write_config("active_plugin = \"echo\"");
    let serve = setup.serve(&args);
    let active = serve.active();
    assert_eq!(
        (&active["name"], &active["source"]),
        (&json!("echo"), &json!("configuration")),
        "{active}"
    );
    assert_eq!(
        serve.count("changed while the server was down"),
        1,
        "{}",
        serve.log()
    );
    serve.stop();

    // The stored swap is gone: the next start keeps to the configuration.
    setup.write_config("active_plugin = \"sandbox\"");
    let serve = setup.serve(&args);
    assert_eq!(serve.active()["name"], "sandbox");
}

/// Every `phonehook_*` name in the README's section on metrics.
fn documented_metrics() -> Vec<String> {
    let readme =
        std::fs::read_to_string(plugins::workspace_root().join("README.md")).expect("README");
    let start = readme
        .find("## Delivery log and metrics")
        .expect("a metrics section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut names: Vec<String> = section
        .match_indices("phonehook_")
        .map(|(at, _)| {
            section[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect::<String>()
        })
        .filter(|n| n.len() > "phonehook_".len() && !n.ends_with('_'))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn a_fresh_server_lists_every_documented_metric() {
    let setup = Setup::new("active_plugin = \"sandbox\"");
    let serve = setup.serve(&["--config", "phonehook.toml"]);
    let page = serve.text("/metrics");
    let listed: Vec<&str> = page
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap_or_default())
        .collect();
    let documented = documented_metrics();
    assert!(documented.len() >= 9, "{documented:?}");
    let missing: Vec<&String> = documented
        .iter()
        .filter(|name| {
            !listed
                .iter()
                .any(|l| *l == name.as_str() || *l == format!("{name}_count"))
        })
        .collect();
    assert!(missing.is_empty(), "not listed: {missing:?}\n{page}");
}

/// A setup serving the sandbox with log lines in the human format (the
/// default) and no delivery log.
fn plain_sandbox() -> Setup {
    let setup = Setup::new("");
    std::fs::write(
        setup.config(),
        "listen = \"127.0.0.1:0\"\nactive_plugin = \"sandbox\"\nlog.enabled = false\n",
    )
    .expect("config");
    setup
}

/// Sends one message, which must be delivered, and waits for its log line;
/// the answer's event id.
fn send_one_and_wait_for_its_line(serve: &Serve) -> String {
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/messages", serve.url))
        .json(&json!({"recipient": "+14155552671", "text": "Your code is 123456"}))
        .send()
        .expect("answers");
    assert_eq!(resp.status().as_u16(), 200);
    let event_id = resp
        .headers()
        .get("x-phonehook-event-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(event_id.starts_with("ev_"), "{:?}", resp.headers());
    serve.wait_for(
        "the delivery's log line",
        |s| s.count("message accepted by vendor"),
        |n| *n == 1,
    );
    event_id
}

#[test]
fn log_lines_are_plain_and_say_what_happened() {
    let setup = plain_sandbox();
    // A second file claiming `echo`.
    std::fs::copy(
        plugins::library(ECHO_V2),
        setup.plugin_dir().join("libecho2.so"),
    )
    .expect("copy");
    let serve = setup.serve(&["--config", "phonehook.toml"]);
    let event_id = send_one_and_wait_for_its_line(&serve);
    let log = serve.log();
    assert!(!log.contains('\u{1b}'), "colour codes in a pipe:\n{log}");
    assert_eq!(serve.count("plugin loaded"), 2, "{log}");
    assert_eq!(serve.count("plugin reloaded"), 0, "{log}");
    assert_eq!(
        serve.count("plugin unloaded"),
        0,
        "a refused duplicate was never loaded:\n{log}"
    );
    assert_eq!(serve.count("already provided by"), 1, "{log}");
    let line = log
        .lines()
        .find(|l| l.contains("message accepted by vendor"))
        .unwrap_or_default();
    let elapsed = line
        .split("elapsed_ms=")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or_default();
    // The line is the attempt's whole account at the default level: the
    // event id links it to the delivery log and the caller's answer.
    for field in [
        format!("event_id={event_id} "),
        "plugin=sandbox ".to_owned(),
        "route=hook ".to_owned(),
        "channel=sms ".to_owned(),
        "to=+1********71 ".to_owned(),
    ] {
        assert!(line.contains(&field), "{field} in {line}");
    }
    let decimals = elapsed.split('.').nth(1).map_or(0, str::len);
    assert!(
        !elapsed.is_empty() && decimals <= 3,
        "elapsed_ms rounded: {line}"
    );
}

#[test]
fn at_debug_level_the_attempt_line_names_each_field_once() {
    // At debug the `message` span is on and gives the plugin's and the
    // client's lines their context; the attempt's own line carries the same
    // fields itself, so it must not be written inside the span as well.
    let setup = plain_sandbox();
    let serve = setup.serve_at("debug", &["--config", "phonehook.toml"]);
    send_one_and_wait_for_its_line(&serve);
    let log = serve.log();
    assert!(
        log.contains(" DEBUG "),
        "debug lines at RUST_LOG=debug:\n{log}"
    );
    let line = log
        .lines()
        .find(|l| l.contains("message accepted by vendor"))
        .unwrap_or_default();
    for field in [
        "event_id=",
        "plugin=",
        "generation=",
        "route=",
        "channel=",
        "to=",
    ] {
        assert_eq!(line.matches(field).count(), 1, "{field} once in {line}");
    }
}

#[test]
fn the_active_flag_outranks_the_file_on_every_reload() {
    let setup = Setup::new("active_plugin = \"sandbox\"\n[vendor]\ntimeout_ms = 10000");
    let serve = setup.serve(&["--config", "phonehook.toml", "--active", "echo"]);
    assert_eq!(serve.active()["name"], "echo");
    // Neither another key nor the file's own active_plugin moves it.
    for extra in [
        "active_plugin = \"sandbox\"\n[vendor]\ntimeout_ms = 9000",
        "active_plugin = \"echo\"\n[vendor]\ntimeout_ms = 9000",
        "active_plugin = \"sandbox\"\n[vendor]\ntimeout_ms = 9000",
    ] {
        let before = serve.count("configuration reloaded");
        setup.write_config(extra);
        serve.wait_for(
            "the edit to be applied",
            |s| s.count("configuration reloaded"),
            |n| *n > before,
        );
        let active = serve.active();
        assert_eq!(
            (&active["name"], &active["source"]),
            (&json!("echo"), &json!("configuration")),
            "{active}\n{}",
            serve.log()
        );
    }
}
