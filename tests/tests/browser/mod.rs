//! Headless Chromium for the console's browser tests, driven over WebDriver
//! with `fantoccini`: Debian's `chromedriver` is started on a free loopback
//! port as a child process (in a process group of its own, so the browser it
//! starts goes with it), with a fresh profile directory, and killed when the
//! [`Browser`] is dropped — also when a test fails half-way.
//!
//! Without Chromium the tests fail and say what to install; they never pass
//! without having run.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Map, Value};
use tempfile::TempDir;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The viewport of every page and screenshot.
pub const WIDTH: u32 = 1280;
/// See [`WIDTH`].
pub const HEIGHT: u32 = 800;

/// A headless Chromium session.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    driver: Child,
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver and a browser session; panics with what to install
    /// when Chromium or its driver is missing.
    pub async fn start() -> Browser {
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the console's browser tests need headless Chromium. \
                 Install it with `apt-get install -y chromium chromium-driver` \
                 (scripts/test.sh does this before running the tests)"
            );
        }
        let port = free_port();
        let profile = tempfile::tempdir().expect("a profile directory");
        let driver = spawn_driver(port);
        let mut guard = DriverGuard(Some(driver));
        wait_for_port(port, Duration::from_secs(30));
        let mut options = Map::new();
        options.insert("binary".into(), CHROMIUM.into());
        options.insert(
            "args".into(),
            json!([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--disable-dev-shm-usage",
                format!("--window-size={WIDTH},{HEIGHT}"),
                format!("--user-data-dir={}", profile.path().display()),
            ]),
        );
        let mut capabilities = Map::new();
        capabilities.insert("browserName".into(), "chrome".into());
        capabilities.insert("goog:chromeOptions".into(), Value::Object(options));
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("chromedriver starts a Chromium session");
        // The window holds the viewport and whatever frame the browser
        // draws around it: size it so the viewport (what a screenshot
        // shows) is exactly WIDTH×HEIGHT.
        let frame = client
            .execute(
                "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];",
                vec![],
            )
            .await
            .expect("the frame's size");
        let extra = |i: usize| frame[i].as_u64().unwrap_or(0) as u32;
        client
            .set_window_size(WIDTH + extra(0), HEIGHT + extra(1))
            .await
            .expect("the window is resized");
        Browser {
            client,
            driver: guard.0.take().expect("the driver is kept"),
            _profile: profile,
        }
    }

    /// Writes a screenshot of the current page to `docs/console/{name}.png`,
    /// only when `PHONEHOOK_SCREENSHOTS=1` (so ordinary runs leave the tree
    /// alone).
    pub async fn screenshot(&self, name: &str) {
        if std::env::var("PHONEHOOK_SCREENSHOTS").as_deref() != Ok("1") {
            return;
        }
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = docs_dir();
        std::fs::create_dir_all(&dir).expect("docs/console");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is written");
    }

    /// Ends the browser session, then the driver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
        // `Drop` kills the driver's process group.
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}

/// Kills the driver if starting the session fails.
struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            kill_group(child);
        }
    }
}

fn spawn_driver(port: u16) -> Child {
    use std::os::unix::process::CommandExt;
    Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: killing the group takes Chromium along.
        .process_group(0)
        .spawn()
        .expect("chromedriver starts")
}

fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals the process group the
        // driver leads; it touches no memory of this process.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.wait();
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a loopback port");
    listener.local_addr().expect("its address").port()
}

fn wait_for_port(port: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on 127.0.0.1:{port} within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/console")
}
