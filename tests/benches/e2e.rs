//! End to end, against the limit: a loopback mock of Twilio's Messages API
//! that answers at once, and at concurrency 32 and 64 for a fixed time each:
//! (a) load straight at the mock, (b) a minimal forwarding gateway, (c)
//! phonehook with the twilio plugin and the delivery log on. Then (b) and (c)
//! paced at half of (b)'s saturation rate, for latency without queueing.
//! Also phonehook's RSS at idle and under load.
//!
//! Run: `cargo bench -p phonehook-e2e --bench e2e` (release builds are made
//! first). `E2E_SECONDS` sets the measured window per run (default 5);
//! `E2E_LOG=off` turns phonehook's delivery log off, to see what it costs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use phonehook_e2e::load::{
    closed_loop, cpu_time, paced, rss_mib, serve_phonehook, MakeRequest, ServeProcess, Stats,
};
use phonehook_e2e::{plugins, MockVendor};
use serde_json::json;

const SID: &str = "AC00000000000000000000000000000000";

fn mock_twilio() -> Router {
    Router::new().route(
        "/2010-04-01/Accounts/{sid}/Messages.json",
        post(|| async {
            (
                StatusCode::CREATED,
                Json(json!({"sid": "SM00000000000000000000000000000001", "status": "queued", "num_segments": "1"})),
            )
        }),
    )
}

struct Proc {
    child: Child,
    url: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_gateway(release: &std::path::Path, vendor: &str) -> Proc {
    let mut child = Command::new(release.join("minimal_gateway"))
        .args(["127.0.0.1:0", vendor])
        .stdout(Stdio::piped())
        .spawn()
        .expect("gateway starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("address");
    Proc {
        child,
        url: format!("http://{}", line.trim()),
    }
}

fn spawn_phonehook(release: &std::path::Path, vendor: &str, dir: &std::path::Path) -> ServeProcess {
    let plugin_dir = dir.join("plugins");
    std::fs::create_dir_all(&plugin_dir).expect("dir");
    std::fs::copy(
        release.join("libphonehook_plugin_twilio.so"),
        plugin_dir.join("libtwilio.so"),
    )
    .expect("copy");
    let config = format!(
        r#"plugin_dir = "{plugins}"
active_plugin = "twilio"
[log]
enabled = {log_enabled}
path = "{db}"
[plugins.twilio.settings]
base_url = "{vendor}"
[plugins.twilio.secrets]
TWILIO_ACCOUNT_SID = "{SID}"
TWILIO_AUTH_TOKEN = "token"
TWILIO_PHONE_NUMBER = "+15005550006"
"#,
        plugins = plugin_dir.display(),
        db = dir.join("log.db").display(),
        log_enabled = std::env::var("E2E_LOG").map_or(true, |v| v != "off"),
    );
    serve_phonehook(release, dir, &config)
}

fn hook_request(url: String) -> MakeRequest {
    Arc::new(move |c: &reqwest::Client, n: u64| {
        c.post(&url)
            .header("content-type", "application/json")
            .body(json!({"recipient": "+14155552671", "text": format!("Your code is {:06}", n % 1_000_000),
                         "context": {"message_type": "sms", "code": "123456"}}).to_string())
    })
}

fn vendor_request(url: String) -> MakeRequest {
    Arc::new(move |c: &reqwest::Client, n: u64| {
        c.post(&url).basic_auth(SID, Some("token")).form(&[
            ("To", "+14155552671".to_owned()),
            ("From", "+15005550006".to_owned()),
            ("Body", format!("Your code is {:06}", n % 1_000_000)),
        ])
    })
}

fn row(name: &str, s: &Stats) {
    println!(
        "{name:<34} {:>10.0} {:>9.3} {:>9.3} {:>7}",
        s.throughput(),
        s.quantile_ms(0.5),
        s.quantile_ms(0.99),
        s.errors
    );
}

/// Server CPU per request over a closed-loop run (warm-up included in both).
fn cpu_us_per_request(cpu: Duration, s: &Stats, warmup: Duration) -> f64 {
    let requests = s.ok as f64 * (1.0 + warmup.as_secs_f64() / s.elapsed.as_secs_f64());
    cpu.as_secs_f64() * 1e6 / requests.max(1.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::var("E2E_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let (warmup, window) = (Duration::from_secs(1), Duration::from_secs(secs));
    let release = plugins::release(&["phonehook", "phonehook-plugin-twilio", "phonehook-e2e"]);
    let mock = MockVendor::start(mock_twilio()).await;
    let dir = tempfile::tempdir().expect("dir");
    let gateway = spawn_gateway(&release, &mock.url());
    let phonehook = spawn_phonehook(&release, &mock.url(), dir.path());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_rss = rss_mib(phonehook.child.id());

    let vendor_url = format!("{}/2010-04-01/Accounts/{SID}/Messages.json", mock.url());
    println!(
        "{:<34} {:>10} {:>9} {:>9} {:>7}",
        "run", "req/s", "p50 ms", "p99 ms", "errors"
    );
    let mut peak_rss: f64 = 0.0;
    let mut half_rate = 0.0;
    for concurrency in [32, 64] {
        let a = closed_loop(
            vendor_request(vendor_url.clone()),
            concurrency,
            warmup,
            window,
        )
        .await;
        row(&format!("(a) mock vendor, c={concurrency}"), &a);
        let cpu0 = cpu_time(gateway.child.id());
        let b = closed_loop(
            hook_request(format!("{}/api/v1/messages", gateway.url)),
            concurrency,
            warmup,
            window,
        )
        .await;
        let b_cpu = cpu_us_per_request(cpu_time(gateway.child.id()) - cpu0, &b, warmup);
        row(&format!("(b) minimal gateway, c={concurrency}"), &b);
        let pid = phonehook.child.id();
        let sampler = tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            for _ in 0..((secs + 1) * 10) {
                peak = peak.max(rss_mib(pid));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        });
        let cpu0 = cpu_time(pid);
        let c = closed_loop(
            hook_request(format!("{}/api/v1/messages", phonehook.url)),
            concurrency,
            warmup,
            window,
        )
        .await;
        let c_cpu = cpu_us_per_request(cpu_time(pid) - cpu0, &c, warmup);
        peak_rss = peak_rss.max(sampler.await.unwrap_or(f64::NAN));
        row(&format!("(c) phonehook + twilio, c={concurrency}"), &c);
        println!(
            "    ratio (c)/(b) at c={concurrency}: {:.3}",
            c.throughput() / b.throughput()
        );
        println!("    server CPU per request: (b) {b_cpu:.1} us, (c) {c_cpu:.1} us");
        if concurrency == 32 {
            half_rate = b.throughput() / 2.0;
        }
    }
    println!("\npaced at half of (b)'s saturation rate (c=32): {half_rate:.0} req/s");
    let b = paced(
        hook_request(format!("{}/api/v1/messages", gateway.url)),
        half_rate,
        32,
        window,
    )
    .await;
    row("(b) minimal gateway, paced", &b);
    let c = paced(
        hook_request(format!("{}/api/v1/messages", phonehook.url)),
        half_rate,
        32,
        window,
    )
    .await;
    row("(c) phonehook + twilio, paced", &c);
    println!(
        "    p99 (c) - (b): {:+.3} ms",
        c.quantile_ms(0.99) - b.quantile_ms(0.99)
    );
    println!("\nphonehook RSS: idle {idle_rss:.1} MiB, peak under load {peak_rss:.1} MiB");
}
