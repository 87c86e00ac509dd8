//! `phonehook serve` as a child process of the real binary, for tests that
//! need what only a separate process shows: its stderr, its exit status, the
//! files it leaves after a graceful shutdown or after being killed.
//!
//! The server runs with JSON log lines at debug level; [`Served::start`]
//! waits for `phonehook listening` and reads the address from that line.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use serde_json::Value;

use crate::plugins;

/// A private plugin directory (mode 0700, as the host requires) inside
/// `dir`, holding the shared library of each package.
pub fn plugin_dir(dir: &Path, packages: &[&str]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let plugin_dir = dir.join("plugins");
    std::fs::create_dir_all(&plugin_dir).expect("plugins");
    std::fs::set_permissions(&plugin_dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    for package in packages {
        let lib = plugins::library(package);
        std::fs::copy(&lib, plugin_dir.join(lib.file_name().expect("name"))).expect("copy");
    }
    plugin_dir
}

/// The names of what is in `dir`, sorted: what a process left there.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read the directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// The server's process, killed if still running when dropped, so a test
/// that fails half-way does not leave it behind.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `phonehook serve`.
pub struct Served {
    child: Reaped,
    /// `http://ADDR` of the server.
    pub url: String,
    stderr: Receiver<String>,
    /// The lines read while waiting for `phonehook listening`.
    startup: Vec<String>,
    dir: tempfile::TempDir,
}

impl Served {
    /// Writes `config` (TOML; it must set `log_format = "json"` and
    /// `listen = "127.0.0.1:0"`) to `phonehook.toml` in `dir` and serves it,
    /// with the abuse guard and idempotency off.
    pub fn start(dir: tempfile::TempDir, config: &str) -> Served {
        let path = dir.path().join("phonehook.toml");
        std::fs::write(&path, config).expect("config");
        let mut child = Command::new(plugins::host_binary())
            .args(["serve", "--config"])
            .arg(&path)
            .env("RUST_LOG", "debug")
            // Tests send many messages to one number, as `Host` does; the
            // guard's tests run on `Host::builder().guard()`.
            .env("PHONEHOOK_GUARD__ENABLED", "false")
            .env("PHONEHOOK_IDEMPOTENCY__ENABLED", "false")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns");
        let (tx, stderr) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut startup = Vec::new();
        let addr = loop {
            let line = stderr
                .recv_timeout(Duration::from_secs(60))
                .expect("the server starts");
            let json: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            startup.push(line);
            if json["message"] == "phonehook listening" {
                break json["addr"].as_str().expect("addr").to_owned();
            }
        };
        Served {
            child: Reaped(child),
            url: format!("http://{addr}"),
            stderr,
            startup,
            dir,
        }
    }

    /// SIGTERM (a graceful shutdown), which must exit 0; then everything the
    /// server wrote to stderr, and its directory for a look at its files.
    pub fn stop(mut self) -> (String, tempfile::TempDir) {
        // SAFETY: a signal to our own child.
        let killed = unsafe { libc::kill(self.child.0.id() as i32, libc::SIGTERM) };
        assert_eq!(killed, 0, "SIGTERM sent");
        let status = self.child.0.wait().expect("exits");
        assert!(status.success(), "{status}");
        let mut lines = std::mem::take(&mut self.startup);
        lines.extend(self.stderr.try_iter());
        (lines.join("\n"), self.dir)
    }

    /// SIGKILL, as the OOM killer or a crash ends a server: nothing of its
    /// own shutdown runs. Its directory, for a look at what it left.
    pub fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
        self.dir
    }
}
