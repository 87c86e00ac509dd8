//! Hot reload, measured on a real `phonehook serve` process with release
//! builds of the echo fixture (v1 and v2 alternate, so every reload is real):
//!
//! 1. latency from a new file being in place (atomic rename) to the new
//!    version answering messages, p50/p99 over 100 reloads, default settings;
//! 2. RSS and the number of mapped plugin copies after 10 and 500 reloads.
//!
//! Run: `cargo bench -p phonehook-e2e --bench reload`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use phonehook_e2e::arrival::Arrival;
use phonehook_e2e::load::{rss_mib, serve_phonehook, ServeProcess};
use phonehook_e2e::plugins;
use serde_json::{json, Value};

struct Server {
    process: ServeProcess,
    staging: PathBuf,
}

fn start(release: &Path, dir: &Path, watch: &str) -> Server {
    let plugin_dir = dir.join("plugins");
    let staging = dir.join("staging");
    std::fs::create_dir_all(&plugin_dir).expect("dir");
    std::fs::copy(
        release.join("libfixture_echo_v1.so"),
        plugin_dir.join("libecho.so"),
    )
    .expect("copy");
    let config = format!(
        "plugin_dir = \"{}\"\nstaging_dir = \"{}\"\nactive_plugin = \"echo\"\n{watch}\n",
        plugin_dir.display(),
        staging.display()
    );
    Server {
        process: serve_phonehook(release, dir, &config),
        staging,
    }
}

fn version(client: &reqwest::blocking::Client, url: &str) -> Option<String> {
    let body: Value = client
        .post(format!("{url}/api/v1/messages"))
        .header("content-type", "application/json")
        .body(json!({"recipient": "+14155552671", "text": "Your code is 123456"}).to_string())
        .send()
        .ok()?
        .json()
        .ok()?;
    body["MessageID"]
        .as_str()
        .and_then(|id| id.split(':').next())
        .map(str::to_owned)
}

/// Replaces the plugin with `src` and returns the time until `want` answers.
fn reload(
    server: &Server,
    client: &reqwest::blocking::Client,
    src: &Path,
    want: &str,
    dir: &Path,
) -> Duration {
    let dst = dir.join("plugins").join("libecho.so");
    Arrival::RenameIntoPlace.deliver(src, &dst, dir);
    let t0 = Instant::now();
    while version(client, &server.process.url).as_deref() != Some(want) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "reload to {want} never served"
        );
        std::thread::sleep(Duration::from_micros(500));
    }
    t0.elapsed()
}

fn mapped_copies(pid: u32, staging: &Path) -> usize {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    let staging = staging.to_string_lossy();
    let mut paths: Vec<&str> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.starts_with(&*staging))
        .collect();
    paths.sort();
    paths.dedup();
    paths.len()
}

fn pct(sorted: &[Duration], q: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
}

fn main() {
    let release = plugins::release(&["phonehook", "fixture-echo-v1", "fixture-echo-v2"]);
    let (v1, v2) = (
        plugins::release_library("fixture-echo-v1"),
        plugins::release_library("fixture-echo-v2"),
    );
    let client = reqwest::blocking::Client::new();
    let pick = |i: usize| if i % 2 == 0 { (&v2, "v2") } else { (&v1, "v1") };

    let dir = tempfile::tempdir().expect("dir");
    let server = start(&release, dir.path(), "");
    let mut latencies: Vec<Duration> = (0..100)
        .map(|i| {
            let (src, want) = pick(i);
            reload(&server, &client, src, want, dir.path())
        })
        .collect();
    latencies.sort();
    println!(
        "reload latency over 100 reloads (default watch settings: debounce 100 ms, settle 100 ms)"
    );
    println!(
        "  p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(&latencies, 0.5),
        pct(&latencies, 0.99),
        pct(&latencies, 1.0)
    );
    drop(server);

    let dir = tempfile::tempdir().expect("dir");
    let server = start(
        &release,
        dir.path(),
        "[watch]\ndebounce_ms = 20\nsettle_ms = 20",
    );
    let pid = server.process.child.id();
    println!("memory across reloads (watch: debounce 20 ms, settle 20 ms)");
    println!(
        "  start: RSS {:.1} MiB, mapped plugin copies {}",
        rss_mib(pid),
        mapped_copies(pid, &server.staging)
    );
    for i in 0..500 {
        let (src, want) = pick(i);
        reload(&server, &client, src, want, dir.path());
        if i + 1 == 10 || i + 1 == 100 || i + 1 == 500 {
            std::thread::sleep(Duration::from_millis(100));
            println!(
                "  after {:>3} reloads: RSS {:.1} MiB, mapped plugin copies {}",
                i + 1,
                rss_mib(pid),
                mapped_copies(pid, &server.staging)
            );
        }
    }
}
