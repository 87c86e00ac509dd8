//! End to end, against the limit (BENCHMARKS.md §1). This only orchestrates
//! processes: the Twilio-shaped vendor (`mock_twilio`), the server under test
//! and the load generator (`oha`, or `wrk`) are three processes, so the load
//! never runs inside the server's or the vendor's runtime.
//!
//! Each target is started on its own, warmed up, and loaded at c=32 and c=64:
//! req/s, p50/p99, and the server's CPU per message — utime + stime from
//! `/proc/PID/stat` before and after the measured window, divided by the
//! messages answered (the stable figure on a shared machine). Then the same
//! target paced at half the forwarder's c=32 rate (issue 14's point) and at
//! a quarter of it (below phonehook's own saturation), for the latency the
//! host adds when it is not saturated. Targets: the minimal forwarder
//! (`tests/src/bin/minimal_forwarder.rs`), and phonehook with the twilio
//! plugin at its defaults (info log to a file, delivery log on), with the
//! delivery log off, and with `RUST_LOG=warn`.
//!
//! Run: `cargo bench -p phonehook-e2e --bench e2e` (builds the release
//! binaries; installs oha into `target/bench-tools` when missing).
//! `E2E_SECONDS` is the measured window (default 10), `E2E_WARMUP` the
//! warm-up before each (default 3), `E2E_LOAD=wrk` uses wrk (no paced run),
//! `E2E_PROFILE=release-lto` measures builds of that profile instead.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, Context};
use phonehook_e2e::load::{
    cpu_time, peak_rss_mib, serve_phonehook_with, Body, Load, LoadTool, Measured, ServeEnv,
    ServeProcess,
};
use phonehook_e2e::plugins::workspace_root;

const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";

/// phonehook's send token, as every deployment has one; the forwarder ignores it.
const SEND_TOKEN: &str = "bench-send-token";

/// Every request: Auth0's send-phone-message hook, as phonehook and the
/// forwarder both take it.
const HOOK: &str = r#"{"recipient":"+14155552671","text":"Your code is 123456","context":{"message_type":"sms","code":"123456"}}"#;

/// Environment every phonehook target gets on top of its own.
///
/// **Send-path features, mark here.** A feature on the send path that is on
/// by default and would refuse or short-cut this benchmark's one repeated
/// message sets its switch here and adds a target of its own below with the
/// feature on, so BENCHMARKS.md keeps one table of every feature's cost
/// against the forwarder. The abuse guard would refuse the fourth message to
/// the one number (its own target measures it with limits that admit all),
/// and idempotency would answer every repeat of the one body from memory
/// (its own target runs in the feature rounds, whose bodies differ).
const SEND_PATH_SWITCHES: &[(&str, &str)] = &[
    ("PHONEHOOK_GUARD__ENABLED", "false"),
    ("PHONEHOOK_IDEMPOTENCY__ENABLED", "false"),
];

/// The guard on, every rule evaluated and counted, with limits no run
/// reaches: what the guard costs a message it lets through.
const GUARD_ADMITTING_ALL: &[(&str, &str)] = &[
    ("PHONEHOOK_IDEMPOTENCY__ENABLED", "false"),
    ("PHONEHOOK_GUARD__ENABLED", "true"),
    ("PHONEHOOK_GUARD__PER_NUMBER__LIMIT", "4000000000"),
    ("PHONEHOOK_GUARD__PER_IP__LIMIT", "4000000000"),
    ("PHONEHOOK_GUARD__PER_PREFIX__LIMIT", "4000000000"),
    ("PHONEHOOK_GUARD__PER_COUNTRY__LIMIT", "4000000000"),
    ("PHONEHOOK_GUARD__BACKOFF__AFTER", "0"),
];

/// Idempotency on (as it is by default), with a window short enough that
/// the feature rounds' random bodies rarely repeat inside it: every message
/// pays for its key and its claim and almost none is answered from memory.
const IDEMPOTENCY_ON: &[(&str, &str)] = &[
    ("PHONEHOOK_GUARD__ENABLED", "false"),
    ("PHONEHOOK_IDEMPOTENCY__ENABLED", "true"),
    ("PHONEHOOK_IDEMPOTENCY__WINDOW_SECS", "1"),
];

/// Only in the feature rounds, whose bodies differ (with the main table's
/// one body, every message after the first would be a repeat).
const IDEMPOTENCY_TARGET: Target = Target::Phonehook {
    name: "phonehook, defaults + idempotency on",
    rust_log: "info",
    delivery_log: true,
    vars: IDEMPOTENCY_ON,
    extra: "",
};

/// How many different bodies the feature rounds pick from.
const DISTINCT_BODIES: u32 = 1_000_000;

/// The hook with the one-time code `n`, zero-padded to six digits (the
/// idempotency key is the recipient, the code, the channel and the action).
fn hook_with_code(n: u32) -> String {
    format!(
        r#"{{"recipient":"+14155552671","text":"Your code is {n:06}","context":{{"message_type":"sms","code":"{n:06}"}}}}"#
    )
}

/// A server under test.
#[derive(Clone, Copy)]
enum Target {
    /// `minimal_forwarder`.
    Forwarder,
    /// `phonehook serve` with the twilio plugin.
    Phonehook {
        name: &'static str,
        rust_log: &'static str,
        delivery_log: bool,
        /// Environment on top of the configuration.
        vars: &'static [(&'static str, &'static str)],
        /// Top-level configuration lines on top of the common ones.
        extra: &'static str,
    },
}

const TARGETS: &[Target] = &[
    Target::Forwarder,
    Target::Phonehook {
        name: "phonehook, defaults",
        rust_log: "info",
        delivery_log: true,
        vars: SEND_PATH_SWITCHES,
        extra: "",
    },
    Target::Phonehook {
        name: "phonehook, delivery log off",
        rust_log: "info",
        delivery_log: false,
        vars: SEND_PATH_SWITCHES,
        extra: "",
    },
    Target::Phonehook {
        name: "phonehook, RUST_LOG=warn",
        rust_log: "warn",
        delivery_log: true,
        vars: SEND_PATH_SWITCHES,
        extra: "",
    },
    // The send path with nothing recorded (no per-message line, no delivery
    // log): what phonehook's own work costs beside the forwarder's, so the
    // rows above separate recording from sending.
    Target::Phonehook {
        name: "phonehook, both logs off",
        rust_log: "warn",
        delivery_log: false,
        vars: SEND_PATH_SWITCHES,
        extra: "",
    },
    Target::Phonehook {
        name: "phonehook, defaults + guard on",
        rust_log: "info",
        delivery_log: true,
        vars: GUARD_ADMITTING_ALL,
        extra: "",
    },
    Target::Phonehook {
        name: "phonehook, defaults + fallback configured (unused)",
        rust_log: "info",
        delivery_log: true,
        vars: SEND_PATH_SWITCHES,
        extra: "fallback = [\"sandbox\"]\n",
    },
    Target::Phonehook {
        name: "phonehook, defaults, PostgreSQL store",
        rust_log: "info",
        delivery_log: true,
        vars: SEND_PATH_SWITCHES,
        extra: POSTGRES_STORE,
    },
];

/// A target whose `extra` is this runs on the shared PostgreSQL store: a
/// private cluster (started on first use, in this bench process — the
/// database is a separate process of its own, as in a deployment) with a
/// fresh database per start.
const POSTGRES_STORE: &str = "store = \"@postgres@\"\n";

/// The cluster, once a target needs it; taken and stopped at the end of
/// the run.
static CLUSTER: std::sync::Mutex<Option<phonehook_e2e::postgres::PgCluster>> =
    std::sync::Mutex::new(None);

/// A fresh database on the cluster, starting the cluster first if needed.
fn postgres_database() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let mut cluster = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = cluster.get_or_insert_with(phonehook_e2e::postgres::PgCluster::start);
    cluster.create_database(&format!("bench_{}", NEXT.fetch_add(1, Ordering::Relaxed)))
}

/// Rows in `events` of the database at `url` (psql, a process of its own).
fn events_in(url: &str) -> Option<u64> {
    let out = Command::new("psql")
        .args(["-X", "-tA", "-d", url, "-c", "SELECT count(*) FROM events"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Target::Forwarder => "minimal forwarder",
            Target::Phonehook { name, .. } => name,
        }
    }
}

/// A benchmark binary that prints its address on its first line; killed when dropped.
struct Proc {
    child: Child,
    addr: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(binary: &Path, args: &[&str]) -> anyhow::Result<Proc> {
    let mut child = Command::new(binary)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let mut addr = String::new();
    let stdout = child.stdout.take().context("no stdout")?;
    BufReader::new(stdout).read_line(&mut addr)?;
    let addr = addr.trim().to_owned();
    let proc = Proc { child, addr };
    if proc.addr.is_empty() {
        return Err(anyhow!("{} printed no address", binary.display()));
    }
    Ok(proc)
}

/// A running target: its pid and send URL.
enum Running {
    Forwarder(Proc),
    /// With the URL of its PostgreSQL database, when it has one.
    Phonehook(ServeProcess, Option<String>),
}

impl Running {
    fn pid(&self) -> u32 {
        match self {
            Running::Forwarder(p) => p.child.id(),
            Running::Phonehook(p, _) => p.child.id(),
        }
    }

    fn url(&self) -> String {
        match self {
            Running::Forwarder(p) => format!("http://{}/api/v1/messages", p.addr),
            Running::Phonehook(p, _) => format!("{}/api/v1/messages", p.url),
        }
    }
}

fn start(target: Target, release: &Path, vendor: &str, dir: &Path) -> anyhow::Result<Running> {
    let Target::Phonehook {
        name: _,
        rust_log,
        delivery_log,
        vars,
        extra,
    } = target
    else {
        let p = spawn(&release.join("minimal_forwarder"), &["127.0.0.1:0", vendor])?;
        return Ok(Running::Forwarder(p));
    };
    // Laid out as a deployment is: the configuration in a directory of its
    // own, the delivery log and the log lines elsewhere. The watcher watches
    // the configuration's directory; files written there at every message
    // would wake it each time (see BENCHMARKS.md §1).
    let store_url = (extra == POSTGRES_STORE).then(postgres_database);
    let extra = match &store_url {
        Some(url) => format!("store = \"{url}\"\n"),
        None => extra.to_owned(),
    };
    let (etc, var, plugin_dir) = (dir.join("etc"), dir.join("var"), dir.join("plugins"));
    for d in [&etc, &var, &plugin_dir] {
        std::fs::create_dir_all(d)?;
    }
    std::fs::copy(
        release.join("libphonehook_plugin_twilio.so"),
        plugin_dir.join("libtwilio.so"),
    )?;
    std::fs::copy(
        release.join("libphonehook_plugin_sandbox.so"),
        plugin_dir.join("libsandbox.so"),
    )?;
    let config = format!(
        r#"{extra}plugin_dir = "{plugins}"
send_token = "{SEND_TOKEN}"
active_plugin = "twilio"
[log]
enabled = {delivery_log}
path = "{db}"
[plugins.twilio.settings]
base_url = "{vendor}"
[plugins.twilio.secrets]
TWILIO_ACCOUNT_SID = "{ACCOUNT_SID}"
TWILIO_AUTH_TOKEN = "token"
TWILIO_PHONE_NUMBER = "+15005550006"
"#,
        plugins = plugin_dir.display(),
        db = var.join("deliveries.db").display(),
    );
    let log_file = var.join("phonehook.log");
    let env = ServeEnv {
        rust_log,
        log_file: Some(&log_file),
        vars,
    };
    Ok(Running::Phonehook(
        serve_phonehook_with(release, &etc, &config, env),
        store_url,
    ))
}

/// One closed-loop measurement.
struct Row {
    target: &'static str,
    concurrency: usize,
    measured: Measured,
    cpu_us_per_msg: f64,
}

/// `cargo build --release` of everything the run starts; returns the
/// directory of the built files. Cargo runs this benchmark with its own package's variables set
/// (`CARGO_PKG_NAME`, ...); a nested build that inherits them invalidates
/// every build script that watches them (ring's does), so the next plain
/// `cargo build --release` rebuilds the TLS stack. They are removed here.
fn build_release() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // `E2E_PROFILE` builds and runs another release-like profile (one a
    // comparison defines in the root Cargo.toml), to compare code generation.
    let profile = std::env::var("E2E_PROFILE").unwrap_or_else(|_| "release".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "--profile", &profile])
        .args([
            "-p",
            "phonehook",
            "-p",
            "phonehook-plugin-twilio",
            "-p",
            "phonehook-plugin-sandbox",
        ])
        .args(["-p", "phonehook-e2e"])
        .current_dir(workspace_root());
    let set_by_cargo = |name: &str| {
        [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|p| name.starts_with(p))
            || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"].contains(&name)
    };
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo) {
            cmd.env_remove(name);
        }
    }
    let status = cmd.status().context("cannot run cargo")?;
    if !status.success() {
        return Err(anyhow!("the release build failed"));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    Ok(target.join(profile))
}

fn secs(var: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default),
    )
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let (warmup, window) = (secs("E2E_WARMUP", 3), secs("E2E_SECONDS", 10));
    let release = build_release()?;
    let tools: PathBuf = release
        .parent()
        .context("the release directory is inside the target directory")?
        .join("bench-tools");
    let tool = LoadTool::find_or_install(&tools).map_err(|e| anyhow!(e))?;
    let mock = spawn(&release.join("mock_twilio"), &["127.0.0.1:0"])?;
    let vendor = format!("http://{}", mock.addr);
    println!("load generator: {}", tool.describe());
    println!("load average at start: {}", loadavg());

    let mut rows: Vec<Row> = Vec::new();
    let mut paced: Vec<Paced> = Vec::new();
    // The forwarder's c=32 rate: the paced runs take shares of it.
    let mut forwarder_rate = None;
    // `E2E_ONLY_FEATURES=1`: only the alternating rounds below.
    let main_table = std::env::var_os("E2E_ONLY_FEATURES").is_none();
    for &target in TARGETS.iter().filter(|_| main_table) {
        let dir = tempfile::tempdir()?;
        let server = start(target, &release, &vendor, dir.path())?;
        let url = server.url();
        for concurrency in [32, 64] {
            let store = match &server {
                Running::Phonehook(_, Some(url)) => Some((url.clone(), events_in(url))),
                _ => None,
            };
            let (measured, cpu_us_per_msg) =
                measure(&tool, &server, Body::One(HOOK), concurrency, warmup, window)?;
            if let Some((url, Some(before))) = store {
                // Written within the flush interval of the window's end.
                std::thread::sleep(Duration::from_millis(500));
                if let Some(after) = events_in(&url) {
                    let per_s = (after - before) as f64 / (warmup + window).as_secs_f64();
                    println!(
                        "{} c={concurrency}: {per_s:.0} log events/s written to PostgreSQL during warm-up and window",
                        target.name()
                    );
                }
            }
            if matches!(target, Target::Forwarder) && concurrency == 32 {
                forwarder_rate = Some(measured.throughput());
            }
            eprintln!(
                "{} c={concurrency}: {:.0} req/s, {cpu_us_per_msg:.1} us/msg",
                target.name(),
                measured.throughput()
            );
            rows.push(Row {
                target: target.name(),
                concurrency,
                measured,
                cpu_us_per_msg,
            });
        }
        if let (Some(full), true) = (forwarder_rate, tool.paces()) {
            for share in PACED_SHARES {
                let load = Load {
                    url: &url,
                    body: Body::One(HOOK),
                    bearer: Some(SEND_TOKEN),
                    concurrency: 32,
                    duration: window,
                    rate: Some(full * share),
                };
                paced.push(Paced {
                    share,
                    target: target.name(),
                    measured: tool.run(&load).map_err(|e| anyhow!(e))?,
                });
            }
        }
        if let Running::Phonehook(p, _) = &server {
            println!(
                "{}: peak RSS {:.1} MiB",
                target.name(),
                peak_rss_mib(p.child.id())
            );
        }
    }
    println!("load average at end: {}\n", loadavg());
    if main_table {
        report(&rows, &paced, forwarder_rate);
    }
    let rounds = secs("E2E_AB_ROUNDS", 3).as_secs();
    if rounds > 0 {
        feature_rounds(&tool, &release, &vendor, warmup, window, rounds)?;
    }
    drop(mock);
    // A static is never dropped: stop the cluster explicitly.
    drop(CLUSTER.lock().unwrap_or_else(|e| e.into_inner()).take());
    Ok(())
}

/// One closed-loop window on `server` at `concurrency`, after a warm-up:
/// what the load generator measured, and the server's CPU µs per message.
fn measure(
    tool: &LoadTool,
    server: &Running,
    body: Body<'_>,
    concurrency: usize,
    warmup: Duration,
    window: Duration,
) -> anyhow::Result<(Measured, f64)> {
    let url = server.url();
    let load = |duration| Load {
        url: &url,
        body,
        bearer: Some(SEND_TOKEN),
        concurrency,
        duration,
        rate: None,
    };
    tool.run(&load(warmup)).map_err(|e| anyhow!(e))?;
    let before = cpu_time(server.pid());
    let measured = tool.run(&load(window)).map_err(|e| anyhow!(e))?;
    let cpu = cpu_time(server.pid()) - before;
    let per_msg = cpu.as_secs_f64() * 1e6 / (measured.ok + measured.errors).max(1) as f64;
    Ok((measured, per_msg))
}

/// Each send-path feature against the defaults, in alternating rounds at
/// c=32 (defaults, then each feature, then the defaults again...), so that a
/// machine that speeds up or slows down during the run moves every target
/// alike; the medians are compared. `E2E_AB_ROUNDS` rounds (0: skipped).
///
/// Every target here gets the same load: for each request one of
/// [`DISTINCT_BODIES`] hooks, differing in their code, at random, so that
/// idempotency (which would answer the main table's one body from memory)
/// is measured doing its work.
fn feature_rounds(
    tool: &LoadTool,
    release: &Path,
    vendor: &str,
    warmup: Duration,
    window: Duration,
    rounds: u64,
) -> anyhow::Result<()> {
    let names = [
        "phonehook, defaults",
        "phonehook, defaults + guard on",
        "phonehook, defaults + fallback configured (unused)",
        "phonehook, defaults, PostgreSQL store",
    ];
    let targets: Vec<Target> = names
        .iter()
        .filter_map(|n| TARGETS.iter().copied().find(|t| t.name() == *n))
        .chain([IDEMPOTENCY_TARGET])
        .collect();
    let bodies_dir = tempfile::tempdir()?;
    let bodies = bodies_dir.path().join("hooks.jsonl");
    let mut lines = String::with_capacity(DISTINCT_BODIES as usize * 110);
    for n in 0..DISTINCT_BODIES {
        lines.push_str(&hook_with_code(n));
        lines.push('\n');
    }
    std::fs::write(&bodies, lines)?;
    let mut samples: Vec<Vec<(f64, f64)>> = vec![Vec::new(); targets.len()];
    for round in 0..rounds {
        for (i, &target) in targets.iter().enumerate() {
            let dir = tempfile::tempdir()?;
            let server = start(target, release, vendor, dir.path())?;
            let (measured, per_msg) =
                measure(tool, &server, Body::RandomLine(&bodies), 32, warmup, window)?;
            eprintln!(
                "round {round}: {} {:.0} req/s, {per_msg:.1} us/msg",
                target.name(),
                measured.throughput()
            );
            samples[i].push((measured.throughput(), per_msg));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let medians: Vec<(f64, f64)> = samples
        .iter()
        .map(|s| {
            (
                median(s.iter().map(|x| x.0).collect()),
                median(s.iter().map(|x| x.1).collect()),
            )
        })
        .collect();
    println!("\nsend-path features against the defaults, {rounds} alternating rounds at c=32 (medians):\n");
    // Bodies are drawn with replacement: within a 1 s window, at most the
    // messages of that second can be repeated.
    let idempotency_rps = medians.last().map_or(f64::NAN, |m| m.0);
    println!(
        "bodies: one of {DISTINCT_BODIES} at random per request; with idempotency's 1 s window \
         at most {:.1}% of its messages repeat one it remembers\n",
        100.0 * idempotency_rps / f64::from(DISTINCT_BODIES)
    );
    println!("| target | req/s | CPU µs/msg | req/s ÷ defaults | CPU ÷ defaults |");
    println!("|---|---|---|---|---|");
    for (target, (rps, cpu)) in targets.iter().zip(&medians) {
        println!(
            "| {} | {rps:.0} | {cpu:.1} | {:.3} | {:.3} |",
            target.name(),
            rps / medians[0].0,
            cpu / medians[0].1
        );
    }
    idempotency_store_full(tool, release, vendor, &bodies, warmup + window)
}

/// Idempotency at its defaults (60 s window, 100,000 answers) under random
/// bodies until its store is full: the memory a full store takes, which the
/// feature rounds' 1 s window never reaches. Memory only; the CPU figures
/// come from the rounds, where repeats are rare.
fn idempotency_store_full(
    tool: &LoadTool,
    release: &Path,
    vendor: &str,
    bodies: &Path,
    duration: Duration,
) -> anyhow::Result<()> {
    const DEFAULT_WINDOW: &[(&str, &str)] = &[
        ("PHONEHOOK_GUARD__ENABLED", "false"),
        ("PHONEHOOK_IDEMPOTENCY__ENABLED", "true"),
    ];
    let target = Target::Phonehook {
        name: "phonehook, defaults + idempotency on (60 s window)",
        rust_log: "info",
        delivery_log: true,
        vars: DEFAULT_WINDOW,
        extra: "",
    };
    let defaults = TARGETS
        .iter()
        .copied()
        .find(|t| t.name() == "phonehook, defaults")
        .context("the defaults target")?;
    let mut peaks = Vec::new();
    for t in [defaults, target] {
        let dir = tempfile::tempdir()?;
        let server = start(t, release, vendor, dir.path())?;
        let url = server.url();
        let measured = tool
            .run(&Load {
                url: &url,
                body: Body::RandomLine(bodies),
                bearer: Some(SEND_TOKEN),
                concurrency: 32,
                duration,
                rate: None,
            })
            .map_err(|e| anyhow!(e))?;
        peaks.push((t.name(), measured.ok, peak_rss_mib(server.pid())));
    }
    println!("\nmemory with idempotency's store full (random bodies, c=32):\n");
    println!("| target | messages | peak RSS MiB |");
    println!("|---|---|---|");
    for (name, messages, peak) in peaks {
        println!("| {name} | {messages} | {peak:.1} |");
    }
    Ok(())
}

/// The paced runs' rates, as shares of the forwarder's c=32 rate: half (the
/// issue's target), and a quarter — below phonehook's own saturation, where
/// what the host adds is its latency rather than a queue.
const PACED_SHARES: [f64; 2] = [0.5, 0.25];

/// One target's paced run.
struct Paced {
    /// Of the forwarder's c=32 rate.
    share: f64,
    target: &'static str,
    measured: Measured,
}

/// The forwarder's p99 when paced at `share` of its rate.
fn forwarder_p99(paced: &[Paced], share: f64) -> Option<f64> {
    paced
        .iter()
        .find(|p| p.share == share && p.target == Target::Forwarder.name())
        .map(|p| p.measured.p99_ms)
}

fn report(rows: &[Row], paced: &[Paced], forwarder_rate: Option<f64>) {
    let base = |c: usize| {
        rows.iter()
            .find(|r| r.target == Target::Forwarder.name() && r.concurrency == c)
    };
    println!(
        "| target | c | req/s | p50 ms | p99 ms | CPU µs/msg | req/s ÷ fwd | CPU ÷ fwd | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let (thr, cpu) = base(r.concurrency).map_or((f64::NAN, f64::NAN), |b| {
            (
                r.measured.throughput() / b.measured.throughput(),
                r.cpu_us_per_msg / b.cpu_us_per_msg,
            )
        });
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {thr:.2} | {cpu:.2} | {} |",
            r.target,
            r.concurrency,
            r.measured.throughput(),
            r.measured.p50_ms,
            r.measured.p99_ms,
            r.cpu_us_per_msg,
            r.measured.errors
        );
    }
    for share in PACED_SHARES {
        let (Some(full), Some(fwd_p99)) = (forwarder_rate, forwarder_p99(paced, share)) else {
            println!("\nno paced run: the load generator cannot hold a rate");
            break;
        };
        let rate = full * share;
        println!("\npaced at {rate:.0} req/s ({share} of the forwarder's c=32 rate), c=32:\n");
        println!("| target | req/s | p50 ms | p99 ms | p99 added ms | errors |");
        println!("|---|---|---|---|---|---|");
        for p in paced.iter().filter(|p| p.share == share) {
            let m = &p.measured;
            println!(
                "| {} | {:.0} | {:.2} | {:.2} | {:+.2} | {} |",
                p.target,
                m.throughput(),
                m.p50_ms,
                m.p99_ms,
                m.p99_ms - fwd_p99,
                m.errors
            );
        }
    }

    // Issue 14's targets.
    let ratio = |name: &str, c: usize, cpu: bool| {
        let r = rows
            .iter()
            .find(|r| r.target == name && r.concurrency == c)?;
        let b = base(c)?;
        Some(if cpu {
            r.cpu_us_per_msg / b.cpu_us_per_msg
        } else {
            r.measured.throughput() / b.measured.throughput()
        })
    };
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!("\ntargets (issue 14):");
    for c in [32, 64] {
        if let Some(t) = ratio("phonehook, defaults", c, false) {
            println!(
                "- defaults throughput ≥ 0.8 × forwarder at c={c}: {t:.2}, {}",
                verdict(t >= 0.8)
            );
        }
        if let Some(t) = ratio("phonehook, defaults", c, true) {
            println!(
                "- CPU/msg, delivery log on ≤ 1.5 × at c={c}: {t:.2}, {}",
                verdict(t <= 1.5)
            );
        }
        if let Some(t) = ratio("phonehook, delivery log off", c, true) {
            println!(
                "- CPU/msg, delivery log off ≤ 1.25 × at c={c}: {t:.2}, {}",
                verdict(t <= 1.25)
            );
        }
    }
    let added = |share: f64| {
        let fwd = forwarder_p99(paced, share)?;
        paced
            .iter()
            .find(|p| p.share == share && p.target == "phonehook, defaults")
            .map(|p| p.measured.p99_ms - fwd)
    };
    if let Some(added) = added(0.5) {
        println!(
            "- host-added p99 at half load ≤ 1 ms: {added:+.2} ms, {}",
            verdict(added <= 1.0)
        );
    }
    if let Some(added) = added(0.25) {
        println!(
            "- (reported) host-added p99 at a quarter of the forwarder's rate: {added:+.2} ms"
        );
    }
}
