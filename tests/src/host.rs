//! A real phonehook server for a test: plugin libraries copied into a private
//! plugin directory, a TOML configuration file written from the builder, the
//! server bound to `127.0.0.1:0`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

use crate::plugins;

/// Builds a [`Host`].
pub struct HostBuilder {
    dir: TempDir,
    packages: Vec<String>,
    config: toml::Table,
}

/// Sets `table[a][b]...[last] = value` for a dotted key.
fn set_path(table: &mut toml::Table, key: &str, value: toml::Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().expect("non-empty key");
    let mut cur = table;
    for part in parts {
        cur = cur
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("config path goes through tables");
    }
    cur.insert(last.to_owned(), value);
}

impl HostBuilder {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = toml::Table::new();
        config.insert("listen".into(), "127.0.0.1:0".into());
        config.insert("active_plugin".into(), "sandbox".into());
        // Tests send many messages to one number from one address, often
        // the same body again; the guard's and idempotency's own tests turn
        // them on (`.guard()`, `.idempotency()`).
        set_path(&mut config, "guard.enabled", false.into());
        set_path(&mut config, "idempotency.enabled", false.into());
        HostBuilder {
            dir,
            packages: vec!["phonehook-plugin-sandbox".to_owned()],
            config,
        }
    }

    /// Adds a plugin library by package name (`phonehook-plugin-twilio`,
    /// `fixture-misbehaving`); the sandbox plugin is always there.
    pub fn plugin(mut self, package: &str) -> Self {
        if !self.packages.iter().any(|p| p == package) {
            self.packages.push(package.to_owned());
        }
        self
    }

    /// Turns the abuse guard on, with its defaults unless other `guard.*`
    /// keys are set.
    pub fn guard(self) -> Self {
        self.config("guard.enabled", true)
    }

    /// Turns on answering repeated calls with the first answer.
    pub fn idempotency(self) -> Self {
        self.config("idempotency.enabled", true)
    }

    /// Selects the active plugin by its manifest name (`twilio`).
    pub fn active(self, name: &str) -> Self {
        self.config("active_plugin", name)
    }

    /// Sets a plugin setting (`[plugins.NAME.settings]`).
    pub fn setting(self, plugin: &str, key: &str, value: impl Into<toml::Value>) -> Self {
        let key = format!("plugins.{plugin}.settings.{key}");
        self.config(&key, value)
    }

    /// Sets a plugin secret (`[plugins.NAME.secrets]`).
    pub fn secret(self, plugin: &str, key: &str, value: &str) -> Self {
        let key = format!("plugins.{plugin}.secrets.{key}");
        self.config(&key, value)
    }

    /// Sets any configuration key by its dotted path (`vendor.timeout_ms`).
    pub fn config(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        set_path(&mut self.config, key, value.into());
        self
    }

    /// The directory the host will load plugins from.
    pub fn plugin_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// Copies the plugins, writes the configuration and starts the server.
    pub async fn start(mut self) -> Host {
        let plugin_dir = self.plugin_dir();
        std::fs::create_dir_all(&plugin_dir).expect("plugin dir");
        set_permissions(&plugin_dir, 0o700);
        for package in &self.packages {
            let lib = plugins::library(package);
            let name = lib.file_name().expect("library file name");
            std::fs::copy(&lib, plugin_dir.join(name)).expect("copy plugin");
        }
        self.config.insert(
            "plugin_dir".into(),
            plugin_dir.to_string_lossy().into_owned().into(),
        );
        if !self.config.contains_key("staging_dir") {
            let staging = self.dir.path().join("staging");
            self.config.insert(
                "staging_dir".into(),
                staging.to_string_lossy().into_owned().into(),
            );
        }
        // Each host its own delivery log, not a shared file in the working directory.
        let has_log_path = self.config.get("log").and_then(|l| l.get("path")).is_some();
        if !has_log_path {
            let path = self.dir.path().join("log.db");
            set_path(
                &mut self.config,
                "log.path",
                path.to_string_lossy().into_owned().into(),
            );
        }
        let config_path = self.dir.path().join("phonehook.toml");
        std::fs::write(&config_path, toml::to_string(&self.config).expect("toml"))
            .expect("write config");
        let config = phonehook::config::Config::load(Some(&config_path)).expect("config loads");
        let server = phonehook::server::Server::start(config)
            .await
            .expect("server starts");
        let send_token = self
            .config
            .get("send_token")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let admin_token = self
            .config
            .get("admin_token")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        Host {
            url: format!("http://{}", server.local_addr()),
            server: Some(server),
            client: reqwest::Client::new(),
            config_path,
            plugin_dir,
            send_token,
            admin_token,
            _dir: self.dir,
        }
    }
}

fn set_permissions(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A running host.
pub struct Host {
    url: String,
    server: Option<phonehook::server::Server>,
    client: reqwest::Client,
    config_path: PathBuf,
    plugin_dir: PathBuf,
    send_token: Option<String>,
    admin_token: Option<String>,
    _dir: TempDir,
}

impl Host {
    /// A builder with the sandbox plugin active.
    pub fn builder() -> HostBuilder {
        HostBuilder::new()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The plugin directory the host watches.
    pub fn plugin_dir(&self) -> &Path {
        &self.plugin_dir
    }

    /// The configuration file the host was started with.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The running server.
    pub fn server(&self) -> &phonehook::server::Server {
        self.server.as_ref().expect("server is running")
    }

    /// Sends a hook payload to `POST /api/v1/messages`; returns status and JSON.
    pub async fn send(&self, payload: Value) -> (u16, Value) {
        let token = self.send_token.clone();
        self.request_with("POST", "/api/v1/messages", Some(payload), token.as_deref())
            .await
    }

    /// An admin-API request (with the admin token, when one is configured).
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let token = self.admin_token.clone();
        self.request_with(method, path, body, token.as_deref())
            .await
    }

    /// A request with an explicit bearer token (or none).
    pub async fn request_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let resp = req.send().await.expect("host answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Sends raw bytes with a content type; returns status and JSON.
    pub async fn send_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = &self.send_token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("host answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `GET /api/v1/plugins`.
    pub async fn plugins(&self) -> Value {
        let (status, body) = self.admin("GET", "/api/v1/plugins", None).await;
        assert_eq!(status, 200, "plugins lists: {body}");
        body
    }

    /// One plugin's entry in `GET /api/v1/plugins`, by name.
    pub async fn plugin(&self, name: &str) -> Option<Value> {
        self.plugins().await["plugins"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
    }

    /// Polls `GET /api/v1/plugins` until `done` holds; panics after `timeout`.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: std::time::Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let body = self.plugins().await;
            if done(&body) {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// Waits until plugin `name` serves the file content with this SHA-256.
    pub async fn wait_for_sha(&self, name: &str, sha256: &str) -> Value {
        self.wait_until(
            &format!("{name} at {sha256}"),
            std::time::Duration::from_secs(20),
            |b| {
                b["plugins"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| p["name"] == name && p["sha256"] == sha256)
                })
            },
        )
        .await
    }

    /// The messages the sandbox inbox holds, oldest first.
    pub async fn inbox(&self) -> Vec<Value> {
        let (status, body) = self.admin("GET", "/sandbox/messages", None).await;
        assert_eq!(status, 200, "inbox lists: {body}");
        body["messages"].as_array().cloned().unwrap_or_default()
    }

    /// Stops the server gracefully, letting messages in flight finish.
    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}
