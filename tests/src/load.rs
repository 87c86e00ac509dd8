//! A small HTTP load generator for the benchmarks: closed-loop at a fixed
//! concurrency, or paced at a fixed rate, recording every latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// What a run measured.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Requests answered 2xx.
    pub ok: usize,
    /// Requests that failed or answered non-2xx.
    pub errors: usize,
    /// Wall time of the measured window.
    pub elapsed: Duration,
    /// Sorted latencies of the successful requests.
    pub latencies: Vec<Duration>,
}

impl Stats {
    /// Successful requests per second.
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The q-quantile latency (0.5, 0.99) in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
        self.latencies[i].as_secs_f64() * 1000.0
    }
}

/// One request to send, built fresh for each call.
pub type MakeRequest = Arc<dyn Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync>;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .tcp_nodelay(true)
        .build()
        .expect("client")
}

async fn one(client: &reqwest::Client, make: &MakeRequest, n: u64) -> Option<Duration> {
    let start = Instant::now();
    let resp = make(client, n).send().await.ok()?;
    let ok = resp.status().is_success();
    let _ = resp.bytes().await.ok()?;
    ok.then(|| start.elapsed())
}

/// `concurrency` workers sending back to back: `warmup`, then `measure`.
pub async fn closed_loop(
    make: MakeRequest,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> Stats {
    let client = client();
    let results = Arc::new(Mutex::new((0usize, 0usize, Vec::new())));
    let start = Instant::now();
    let (measure_from, end) = (start + warmup, start + warmup + measure);
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (client, make, results) = (client.clone(), make.clone(), results.clone());
        tasks.push(tokio::spawn(async move {
            let mut local = (0usize, 0usize, Vec::new());
            let mut n = w as u64 * 1_000_000;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                n += 1;
                let r = one(&client, &make, n).await;
                if sent >= measure_from {
                    match r {
                        Some(d) => {
                            local.0 += 1;
                            local.2.push(d);
                        }
                        None => local.1 += 1,
                    }
                }
            }
            let mut all = results.lock().await;
            all.0 += local.0;
            all.1 += local.1;
            all.2.extend(local.2);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let (ok, errors, mut latencies) = std::mem::take(&mut *results.lock().await);
    latencies.sort();
    Stats {
        ok,
        errors,
        elapsed: measure,
        latencies,
    }
}

/// `workers` senders sharing a steady total `rate` per second for `measure`.
/// Each worker follows its own schedule; a late answer delays only that
/// worker, so with enough workers the server, not the generator, sets the pace.
pub async fn paced(make: MakeRequest, rate: f64, workers: usize, measure: Duration) -> Stats {
    let client = client();
    let period = Duration::from_secs_f64(workers as f64 / rate.max(1.0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (client, make) = (client.clone(), make.clone());
        // Stagger the workers evenly over one period.
        let first = start + period.mul_f64(w as f64 / workers as f64);
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut errors, mut latencies) = (0usize, 0usize, Vec::new());
            let mut due = first;
            let mut n = w as u64 * 1_000_000;
            while due < start + measure {
                tokio::time::sleep_until(due.into()).await;
                n += 1;
                match one(&client, &make, n).await {
                    Some(d) => {
                        ok += 1;
                        latencies.push(d);
                    }
                    None => errors += 1,
                }
                due += period;
            }
            (ok, errors, latencies)
        }));
    }
    let (mut ok, mut errors, mut latencies) = (0, 0, Vec::new());
    for t in tasks {
        if let Ok((o, e, l)) = t.await {
            ok += o;
            errors += e;
            latencies.extend(l);
        }
    }
    latencies.sort();
    Stats {
        ok,
        errors,
        elapsed: measure,
        latencies,
    }
}

/// CPU time (user + system) a process has used so far.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the stat line, 11 and 12 here.
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / hz)
}

/// Resident set size of a process, in MiB (`/proc/PID/status` VmRSS).
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// A `phonehook serve` process for a benchmark, killed when dropped.
pub struct ServeProcess {
    /// The process.
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `release/phonehook serve` on a free loopback port with `config`
/// (TOML, without `listen`) written to `dir/phonehook.toml`, and waits until
/// it accepts connections; kills it and panics when it does not within 5 s.
pub fn serve_phonehook(
    release: &std::path::Path,
    dir: &std::path::Path,
    config: &str,
) -> ServeProcess {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let path = dir.join("phonehook.toml");
    std::fs::write(&path, format!("listen = \"127.0.0.1:{port}\"\n{config}"))
        .expect("write the config");
    let mut child = std::process::Command::new(release.join("phonehook"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("phonehook starts");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return ServeProcess {
                child,
                url: format!("http://127.0.0.1:{port}"),
            };
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("phonehook did not start listening on port {port}");
}
