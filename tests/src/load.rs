//! Load for the benchmarks, from outside: an HTTP load generator (`oha`, or
//! Debian's `wrk`) run as a process of its own, so it never competes with the
//! server under test inside one runtime; and what a benchmark reads about a
//! server process (CPU time, RSS) from `/proc`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// What a load run sends as JSON bodies.
#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    /// One body, every request.
    One(&'a str),
    /// For each request, a line of this file picked at random (a feature
    /// that recognises repeats, such as idempotency, needs bodies that
    /// differ).
    RandomLine(&'a Path),
}

/// One load run: `concurrency` connections sending `body` as a JSON POST to
/// `url` for `duration`, back to back or at a total `rate` per second.
#[derive(Clone, Debug)]
pub struct Load<'a> {
    /// Where to send.
    pub url: &'a str,
    /// The JSON bodies.
    pub body: Body<'a>,
    /// Sent as `Authorization: Bearer ...` when set.
    pub bearer: Option<&'a str>,
    /// Open connections (and requests in flight).
    pub concurrency: usize,
    /// How long to send.
    pub duration: Duration,
    /// Requests per second in total; `None`: as fast as answers come.
    pub rate: Option<f64>,
}

/// What a load run measured.
#[derive(Clone, Debug)]
pub struct Measured {
    /// Requests answered 2xx.
    pub ok: u64,
    /// Requests that failed or were answered otherwise.
    pub errors: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
}

impl Measured {
    /// 2xx answers per second.
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The load generator.
#[derive(Clone, Debug)]
pub enum LoadTool {
    /// `oha` (`cargo install oha`): JSON output, rate limits with latency correction.
    Oha(PathBuf),
    /// `wrk` (Debian's package): closed loop only; it has no rate limit.
    Wrk(PathBuf),
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

impl LoadTool {
    /// `oha` from `tools/bin` or `PATH`; else installs it into `tools` with
    /// `cargo install oha --locked` (several minutes, once); else `wrk` from
    /// `PATH`. `E2E_LOAD=wrk` picks wrk outright.
    pub fn find_or_install(tools: &Path) -> Result<LoadTool, String> {
        let wrk = || {
            on_path("wrk")
                .map(LoadTool::Wrk)
                .ok_or_else(|| "no load generator: install wrk (apt-get install -y wrk) or oha (cargo install oha --locked)".to_owned())
        };
        if std::env::var("E2E_LOAD").is_ok_and(|v| v == "wrk") {
            return wrk();
        }
        let local = tools.join("bin").join("oha");
        if local.is_file() {
            return Ok(LoadTool::Oha(local));
        }
        if let Some(oha) = on_path("oha") {
            return Ok(LoadTool::Oha(oha));
        }
        eprintln!(
            "installing oha into {} (once; this takes several minutes)",
            tools.display()
        );
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let installed = Command::new(cargo)
            .args(["install", "oha", "--locked", "--root"])
            .arg(tools)
            // Not the workspace's target directory: the install must not
            // touch (or lock) the build of the code under test.
            .env_remove("CARGO_TARGET_DIR")
            .status()
            .is_ok_and(|s| s.success());
        if installed && local.is_file() {
            return Ok(LoadTool::Oha(local));
        }
        eprintln!("cannot install oha; trying wrk");
        wrk()
    }

    /// The tool's name and version, for the report.
    pub fn describe(&self) -> String {
        let (path, flag) = match self {
            LoadTool::Oha(p) => (p, "--version"),
            LoadTool::Wrk(p) => (p, "-v"),
        };
        let out = Command::new(path).arg(flag).output();
        let text = out
            .map(|o| {
                let mut t = String::from_utf8_lossy(&o.stdout).into_owned();
                t.push_str(&String::from_utf8_lossy(&o.stderr));
                t
            })
            .unwrap_or_default();
        text.lines().next().unwrap_or("").trim().to_owned()
    }

    /// Whether the tool can hold a fixed request rate.
    pub fn paces(&self) -> bool {
        matches!(self, LoadTool::Oha(_))
    }

    /// Runs `load` and returns what it measured.
    pub fn run(&self, load: &Load) -> Result<Measured, String> {
        match self {
            LoadTool::Oha(path) => run_oha(path, load),
            LoadTool::Wrk(path) => run_wrk(path, load),
        }
    }
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the load generator: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the load generator failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn run_oha(oha: &Path, load: &Load) -> Result<Measured, String> {
    let mut cmd = Command::new(oha);
    cmd.args(["--no-tui", "--output-format", "json", "-m", "POST"])
        .args(["-T", "application/json"]);
    match load.body {
        Body::One(body) => cmd.args(["-d", body]),
        // oha picks one of the file's lines at random for each request.
        Body::RandomLine(path) => cmd.arg("-Z").arg(path),
    };
    cmd.args(["-c", &load.concurrency.to_string()])
        .args(["-z", &format!("{}ms", load.duration.as_millis())])
        // Count the requests in flight at the deadline instead of dropping
        // them: the server did the work, and CPU per message divides by them.
        .arg("-w");
    if let Some(token) = load.bearer {
        cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    if let Some(rate) = load.rate {
        // Latency from when each request was due, not when it was sent, so a
        // server that falls behind shows it (no coordinated omission).
        cmd.args(["-q", &format!("{rate:.0}"), "--latency-correction"]);
    }
    cmd.arg(load.url);
    let text = output(&mut cmd)?;
    let json: Value =
        serde_json::from_str(&text).map_err(|e| format!("oha's JSON report: {e}: {text}"))?;
    let count = |v: &Value| {
        v.as_object()
            .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
    };
    let statuses = json["statusCodeDistribution"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let ok: u64 = statuses
        .iter()
        .filter(|(code, _)| code.starts_with('2'))
        .filter_map(|(_, n)| n.as_u64())
        .sum();
    let answered: u64 = statuses.values().filter_map(Value::as_u64).sum();
    let seconds = |key: &str| json["latencyPercentiles"][key].as_f64().unwrap_or(f64::NAN);
    Ok(Measured {
        ok,
        errors: answered - ok + count(&json["errorDistribution"]),
        elapsed: Duration::from_secs_f64(json["summary"]["total"].as_f64().unwrap_or(f64::NAN)),
        p50_ms: seconds("p50") * 1000.0,
        p99_ms: seconds("p99") * 1000.0,
    })
}

/// wrk's durations: `812.00us`, `1.23ms`, `2.01s`, `1.50m`.
fn wrk_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = text.split_at(split);
    let n: f64 = n.parse().ok()?;
    let scale = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        _ => return None,
    };
    Some(n * scale)
}

fn run_wrk(wrk: &Path, load: &Load) -> Result<Measured, String> {
    if load.rate.is_some() {
        return Err("wrk cannot hold a fixed rate (wrk2 is not packaged)".to_owned());
    }
    let script = std::env::temp_dir().join(format!("phonehook-bench-{}.lua", std::process::id()));
    // JSON string literals are valid Lua string literals for this ASCII text.
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut lua =
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n".to_owned();
    match load.body {
        Body::One(body) => lua.push_str(&format!("wrk.body = {}\n", quoted(body))),
        // As oha's `-Z`: a line at random for each request (wrk.format
        // fills in the method, path and headers set above). Each thread has
        // a Lua state of its own, seeded apart so that they do not send the
        // same sequence side by side.
        Body::RandomLine(path) => lua.push_str(&format!(
            "local bodies = {{}}\nfor line in io.lines({}) do bodies[#bodies + 1] = line end\n\
             local threads = 0\n\
             function setup(thread) threads = threads + 1; thread:set(\"seed\", threads) end\n\
             function init(args) math.randomseed(os.time() * 1000 + seed) end\n\
             request = function() return wrk.format(nil, nil, nil, bodies[math.random(#bodies)]) end\n",
            quoted(&path.to_string_lossy())
        )),
    }
    if let Some(token) = load.bearer {
        lua.push_str(&format!(
            "wrk.headers[\"Authorization\"] = {}\n",
            quoted(&format!("Bearer {token}"))
        ));
    }
    std::fs::write(&script, lua).map_err(|e| format!("cannot write the wrk script: {e}"))?;
    let threads = load.concurrency.min(2);
    let text = output(
        Command::new(wrk)
            .args(["--latency", "-t", &threads.to_string()])
            .args(["-c", &load.concurrency.to_string()])
            .args(["-d", &format!("{}s", load.duration.as_secs().max(1))])
            .arg("-s")
            .arg(&script)
            .arg(load.url),
    );
    let _ = std::fs::remove_file(&script);
    let text = text?;
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    // "  123456 requests in 10.00s, 12.34MB read"
    let (total, elapsed) = text
        .lines()
        .find_map(|l| {
            let (n, rest) = l.trim().split_once(" requests in ")?;
            let secs = wrk_ms(rest.split(',').next()?)? / 1000.0;
            Some((n.parse::<u64>().ok()?, secs))
        })
        .ok_or_else(|| format!("wrk's report has no request count: {text}"))?;
    let non_2xx: u64 = field("Non-2xx or 3xx responses:")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // "Socket errors: connect 0, read 0, write 0, timeout 0"
    let socket: u64 = field("Socket errors:").map_or(0, |s| {
        s.split(',')
            .filter_map(|p| p.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum()
    });
    let pct = |p: &str| field(p).and_then(wrk_ms).unwrap_or(f64::NAN);
    Ok(Measured {
        ok: total.saturating_sub(non_2xx),
        errors: non_2xx + socket,
        elapsed: Duration::from_secs_f64(elapsed),
        p50_ms: pct("50%"),
        p99_ms: pct("99%"),
    })
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
    status_mib(pid, "VmRSS:")
}

/// The largest resident set size a process has had, in MiB (VmHWM).
pub fn peak_rss_mib(pid: u32) -> f64 {
    status_mib(pid, "VmHWM:")
}

fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
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

/// How a benchmark's `phonehook serve` logs, and its environment.
#[derive(Clone, Copy, Debug)]
pub struct ServeEnv<'a> {
    /// `RUST_LOG`.
    pub rust_log: &'a str,
    /// Where its log lines (stderr) go; `None`: discarded.
    pub log_file: Option<&'a Path>,
    /// More environment variables (`PHONEHOOK_*` switches).
    pub vars: &'a [(&'a str, &'a str)],
}

impl ServeEnv<'_> {
    /// Warnings only, discarded.
    pub const QUIET: ServeEnv<'static> = ServeEnv {
        rust_log: "warn",
        log_file: None,
        vars: &[],
    };
}

/// Starts `release/phonehook serve` on a free loopback port with `config`
/// (TOML, without `listen`) written to `dir/phonehook.toml`, and waits until
/// it accepts connections; kills it and panics when it does not within 5 s.
pub fn serve_phonehook(release: &Path, dir: &Path, config: &str) -> ServeProcess {
    serve_phonehook_with(release, dir, config, ServeEnv::QUIET)
}

/// [`serve_phonehook`] with its log and environment set by `env`.
pub fn serve_phonehook_with(
    release: &Path,
    dir: &Path,
    config: &str,
    env: ServeEnv,
) -> ServeProcess {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let path = dir.join("phonehook.toml");
    std::fs::write(&path, format!("listen = \"127.0.0.1:{port}\"\n{config}"))
        .expect("write the config");
    let stderr = match env.log_file {
        Some(file) => Stdio::from(std::fs::File::create(file).expect("create the log file")),
        None => Stdio::null(),
    };
    let mut child = Command::new(release.join("phonehook"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("RUST_LOG", env.rust_log)
        .envs(env.vars.iter().copied())
        .stderr(stderr)
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
