//! Configuration: defaults, then a TOML file, then `PHONEHOOK_*` environment
//! variables (nested keys with `__`, e.g. `PHONEHOOK_VENDOR__TIMEOUT_MS`), then
//! command-line flags. Secrets may also come from the environment variable the
//! plugin's manifest names (see [`PluginConfig::secret`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::console::ConsoleConfig;
use crate::deliverylog::LogConfig;
use crate::egress::VendorConfig;
use crate::failover::FailoverConfig;
use crate::guard::GuardConfig;
use crate::idempotency::IdempotencyConfig;

/// The prefix of the environment variables that set configuration keys.
pub const ENV_PREFIX: &str = "PHONEHOOK_";
/// The command line's `--url` (a running server's address).
pub const ENV_URL: &str = "PHONEHOOK_URL";
/// The command line's `--config` (the configuration file).
pub const ENV_CONFIG: &str = "PHONEHOOK_CONFIG";
/// `PHONEHOOK_*` variables the command line reads itself: they share the
/// prefix but are not configuration keys, so the configuration ignores them
/// without a word.
const CLI_VARIABLES: [&str; 2] = [ENV_URL, ENV_CONFIG];

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or an environment variable holds something invalid.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// A file was named but does not exist.
    #[error("configuration file {0} does not exist")]
    Missing(PathBuf),
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// The whole configuration.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory of plugin libraries (`*.so`), watched for changes.
    pub plugin_dir: PathBuf,
    /// Where the host keeps the copies it actually loads, each process in a
    /// directory of its own (removed on a clean stop; a later start removes
    /// those of hosts that were killed); defaults to `phonehook-UID` under
    /// the system temporary directory.
    pub staging_dir: Option<PathBuf>,
    /// The plugin that serves messages, by manifest name.
    pub active_plugin: Option<String>,
    /// Plugins that take a message, in order, when the active one cannot
    /// deliver it (see `[failover]`).
    pub fallback: Vec<String>,
    /// Where the log and the shared state are kept: `sqlite` (the file at
    /// `log.path`) or a `postgres://` URL several instances share
    /// (`PHONEHOOK_STORE`).
    pub store: crate::store::StoreKind,
    /// This instance's name in `GET /api/v1/instances` (default: the host
    /// name). Only used with a shared store.
    pub instance_name: Option<String>,
    /// Region for numbers written without a country code (ISO 3166 alpha-2).
    pub default_region: String,
    /// Log line format.
    pub log_format: LogFormat,
    /// Bearer token the identity platform sends to `POST /api/v1/messages`.
    /// Without both tokens the server only listens on loopback.
    pub send_token: Option<String>,
    /// Bearer token for the admin API.
    pub admin_token: Option<String>,
    /// How plugin and configuration files are watched.
    pub watch: WatchConfig,
    /// Limits on inbound requests.
    pub limits: Limits,
    /// How the host talks to vendors.
    pub vendor: VendorConfig,
    /// The built-in sandbox inbox.
    pub sandbox: SandboxConfig,
    /// The delivery log (`[log]`).
    pub log: LogConfig,
    /// The abuse guard (`[guard]`).
    pub guard: GuardConfig,
    /// Fallbacks, circuit breakers and the message deadline (`[failover]`).
    pub failover: FailoverConfig,
    /// Answering retried calls without a second text (`[idempotency]`).
    pub idempotency: IdempotencyConfig,
    /// The admin console (`[console]`).
    pub console: ConsoleConfig,
    /// Per-plugin settings and secrets, by plugin name.
    pub plugins: BTreeMap<String, PluginConfig>,
    /// The file this configuration was read from (watched for changes).
    #[serde(skip)]
    pub source: Option<PathBuf>,
    /// `serve --active`: wins over the file and the environment, at start and
    /// on every reload ([`Config::reload`]).
    #[serde(skip)]
    pub active_override: Option<String>,
    /// `PHONEHOOK_*` environment variables that name no configuration key
    /// (a deployment's own, or a typo) and were therefore not applied; the
    /// server warns about them once at start.
    #[serde(skip)]
    pub ignored_env: Vec<String>,
}

/// Limits on inbound requests.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Longest accepted message text, in characters (Twilio's limit is 1600).
    pub max_text_chars: usize,
    /// Refuse numbers outside ranges libphonenumber knows to be assigned
    /// (default: only impossible numbers are refused; see `e164`).
    pub strict_numbers: bool,
    /// Time a caller has to send a request's head (line and headers) before
    /// its connection is closed; keeps stalled clients from holding
    /// connections forever.
    pub header_timeout_ms: u64,
    /// Time a caller has to send a whole request body, from the end of its
    /// head; a slower body is answered 408 and its connection closed.
    pub body_timeout_ms: u64,
    /// Connections served at once; further callers wait in the kernel's
    /// listen backlog until one closes (the process never runs out of file
    /// descriptors for them).
    pub max_connections: usize,
    /// Connections served at once from one IP address; further ones from it
    /// are closed at once. 0: no limit (the default, because behind a proxy
    /// or load balancer every caller has the proxy's address).
    pub max_connections_per_peer: usize,
}

/// Watching the plugin directory and the configuration file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchConfig {
    /// Whether changes are picked up while running.
    pub enabled: bool,
    /// Quiet time after the last file event before looking at a file.
    pub debounce_ms: u64,
    /// How long a file's size and modification time must stay unchanged
    /// before it is loaded (a writer may pause between chunks).
    pub settle_ms: u64,
    /// Poll instead of using inotify (NFS and some container mounts send no
    /// events), at this interval; 0 uses inotify.
    pub poll_interval_ms: u64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            enabled: true,
            debounce_ms: 100,
            settle_ms: 100,
            poll_interval_ms: 0,
        }
    }
}

/// The built-in sandbox inbox (`/sandbox/messages`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Whether the inbox routes are served.
    pub enabled: bool,
    /// How many messages it keeps (oldest dropped first).
    pub capacity: usize,
}

/// One plugin's configuration.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PluginConfig {
    /// Plain settings. Non-string values reach the plugin as JSON text.
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Secrets. Never logged, never returned by an API.
    pub secrets: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            plugin_dir: PathBuf::from("plugins"),
            staging_dir: None,
            active_plugin: Some("sandbox".to_owned()),
            fallback: Vec::new(),
            store: crate::store::StoreKind::Sqlite,
            instance_name: None,
            default_region: "US".to_owned(),
            log_format: LogFormat::Human,
            send_token: None,
            admin_token: None,
            watch: WatchConfig::default(),
            limits: Limits::default(),
            vendor: VendorConfig::default(),
            sandbox: SandboxConfig::default(),
            log: LogConfig::default(),
            guard: GuardConfig::default(),
            failover: FailoverConfig::default(),
            idempotency: IdempotencyConfig::default(),
            console: ConsoleConfig::default(),
            plugins: BTreeMap::new(),
            source: None,
            active_override: None,
            ignored_env: Vec::new(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 * 1024,
            max_text_chars: 1600,
            strict_numbers: false,
            header_timeout_ms: 10_000,
            body_timeout_ms: 5_000,
            max_connections: 1024,
            max_connections_per_peer: 0,
        }
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            enabled: true,
            capacity: 1000,
        }
    }
}

impl Config {
    /// Defaults, the file (when given), then `PHONEHOOK_*` variables.
    ///
    /// The file is strict: a key it does not know is an error. The environment
    /// is shared with everything else on the machine, so a `PHONEHOOK_*`
    /// variable that names no key is left out (see [`Config::ignored_env`])
    /// instead of stopping the server.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Missing(file.to_path_buf()));
            }
            figment = figment.merge(Toml::file(file));
        }
        let keys = KeyPaths::of_defaults();
        let env_keys = keys.clone();
        figment = figment.merge(
            Env::prefixed(ENV_PREFIX)
                .filter(move |key| env_keys.names_a_key(key.as_str()))
                .split("__"),
        );
        let mut config: Config = figment.extract().map_err(invalid)?;
        config.source = file.map(Path::to_path_buf);
        config.ignored_env = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .filter(|name| !CLI_VARIABLES.contains(&name.as_str()))
            .filter(|name| {
                strip_prefix_ignore_case(name, ENV_PREFIX).is_some_and(|key| !keys.names_a_key(key))
            })
            .collect();
        config.ignored_env.sort();
        config.validate()?;
        Ok(config)
    }

    /// Makes `name` the configured active plugin whatever the file and the
    /// environment say (`serve --active`).
    pub fn override_active(&mut self, name: String) {
        self.active_plugin = Some(name.clone());
        self.active_override = Some(name);
    }

    /// Reads the configuration's file again (defaults, the file, then the
    /// environment, as [`Config::load`]), keeping this configuration's
    /// command-line overrides.
    pub fn reload(&self) -> Result<Config, ConfigError> {
        let mut config = Config::load(self.source.as_deref())?;
        if let Some(name) = &self.active_override {
            config.override_active(name.clone());
        }
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.log
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        self.guard
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        self.failover
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        self.console.validate().map_err(ConfigError::Invalid)?;
        if crate::e164::region(&self.default_region).is_none() {
            return Err(ConfigError::Invalid(format!(
                "default_region `{}` is not an ISO 3166 region code such as US or GB",
                self.default_region
            )));
        }
        if self.vendor.timeout_ms == 0
            || self.limits.max_body_bytes == 0
            || self.limits.header_timeout_ms == 0
            || self.limits.body_timeout_ms == 0
            || self.limits.max_connections == 0
        {
            return Err(ConfigError::Invalid(
                "vendor.timeout_ms, limits.max_body_bytes, limits.header_timeout_ms, limits.body_timeout_ms and limits.max_connections must be positive".to_owned(),
            ));
        }
        Ok(())
    }

    /// The inbound validation rules this configuration implies.
    pub fn rules(&self) -> Result<crate::inbound::Rules, ConfigError> {
        Ok(crate::inbound::Rules {
            default_region: crate::e164::region(&self.default_region).ok_or_else(|| {
                ConfigError::Invalid(format!("unknown default_region {}", self.default_region))
            })?,
            max_text_chars: self.limits.max_text_chars,
            strictness: if self.limits.strict_numbers {
                crate::e164::Strictness::Valid
            } else {
                crate::e164::Strictness::Possible
            },
        })
    }

    /// The send token, trimmed; an empty or blank value is no token (an
    /// unset variable in `PHONEHOOK_SEND_TOKEN=$UNSET` must not pass for one).
    pub fn send_token(&self) -> Option<&str> {
        usable_token(self.send_token.as_deref())
    }

    /// The admin token, trimmed; an empty or blank value is no token.
    pub fn admin_token(&self) -> Option<&str> {
        usable_token(self.admin_token.as_deref())
    }

    /// The configuration of one plugin (empty when not configured).
    pub fn plugin(&self, name: &str) -> PluginConfig {
        self.plugins.get(name).cloned().unwrap_or_default()
    }
}

/// Callers send tokens in a header, where surrounding blanks cannot survive;
/// a configured token is read the same way.
fn usable_token(token: Option<&str>) -> Option<&str> {
    token.map(str::trim).filter(|t| !t.is_empty())
}

/// Every figment error in one line each, naming the key as the user wrote
/// it: `vendor.timeout` in a file, `PHONEHOOK_VENDOR__TIMEOUT` in the
/// environment (figment's own text prefixes file keys with the profile,
/// `default.vendor.timeout`, a name the user never wrote).
fn invalid(error: figment::Error) -> ConfigError {
    let lines: Vec<String> = error
        .into_iter()
        .map(|e| {
            let mut line = e.kind.to_string();
            let from_env = e
                .metadata
                .as_ref()
                .is_some_and(|md| md.name.contains(ENV_PREFIX));
            if !e.path.is_empty() {
                let key = if from_env {
                    format!("{ENV_PREFIX}{}", e.path.join("__").to_ascii_uppercase())
                } else {
                    e.path.join(".")
                };
                line.push_str(&format!(" for key `{key}`"));
            }
            match e.metadata.as_ref() {
                Some(_) if from_env => line.push_str(" in the environment"),
                Some(md) => match &md.source {
                    Some(source) => line.push_str(&format!(" in {source}")),
                    None => line.push_str(&format!(" in {}", md.name)),
                },
                None => {}
            }
            line
        })
        .collect();
    ConfigError::Invalid(lines.join("; "))
}

fn strip_prefix_ignore_case<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let head = name.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &name[prefix.len()..])
}

/// The configuration's key paths (`listen`, `vendor.timeout_ms`, ...), read
/// off the defaults so a new key needs no second list.
#[derive(Clone, Debug)]
struct KeyPaths(serde_json::Value);

impl KeyPaths {
    fn of_defaults() -> KeyPaths {
        // Config serializes to plain JSON: it has no map with non-string keys.
        KeyPaths(serde_json::to_value(Config::default()).unwrap_or_default())
    }

    /// Whether `key` (an environment variable without its prefix, nested keys
    /// separated by `__`) names a configuration key. Under `plugins` any
    /// plugin name and any setting or secret name is a key.
    fn names_a_key(&self, key: &str) -> bool {
        let parts: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
        if parts.iter().any(String::is_empty) {
            return false;
        }
        if parts[0] == "plugins" {
            return parts.len() >= 4 && matches!(parts[2].as_str(), "settings" | "secrets");
        }
        let mut node = &self.0;
        for part in &parts {
            match node.get(part) {
                Some(next) => node = next,
                None => return false,
            }
        }
        true
    }
}

impl PluginConfig {
    /// A secret from the configuration, else from the environment variable of
    /// the same name (the name the plugin's manifest declares). The host's
    /// own secret, the sandbox inbox token, comes from the host and nowhere
    /// else.
    pub fn secret(&self, name: &str) -> Option<String> {
        if name == crate::inbox::TOKEN_SECRET {
            return Some(crate::inbox::token().to_owned());
        }
        self.secrets
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.is_empty())
    }

    /// A setting as the plugin receives it: strings as they are, anything else
    /// as JSON text.
    pub fn setting_text(value: &serde_json::Value) -> String {
        match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names_are_keys_or_not() {
        let keys = KeyPaths::of_defaults();
        let cases = [
            ("LISTEN", true),
            ("ADMIN_TOKEN", true),
            ("ACTIVE_PLUGIN", true),
            ("VENDOR__TIMEOUT_MS", true),
            ("log__recipient_hash_key", true),
            ("PLUGINS__TWILIO__SECRETS__TWILIO_AUTH_TOKEN", true),
            ("PLUGINS__WEBHOOK__SETTINGS__BODY__TO", true),
            // The command line's own, a deployment's, typos, half keys.
            ("URL", false),
            ("CONFIG", false),
            ("DEPLOYMENT", false),
            ("LOG__PATHH", false),
            ("VENDOR__", false),
            ("PLUGINS__TWILIO", false),
            ("PLUGINS__TWILIO__OTHER__X", false),
            ("", false),
        ];
        for (key, expected) in cases {
            assert_eq!(keys.names_a_key(key), expected, "{key}");
        }
    }

    #[test]
    fn file_errors_name_the_key_as_written() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let cases = [
            ("[vendor]\ntimeout = 5\n", "`vendor.timeout`"),
            (
                "[limits]\nmax_body_bytes = \"big\"\n",
                "`limits.max_body_bytes`",
            ),
            ("listn = \"127.0.0.1:1\"\n", "`listn`"),
        ];
        for (text, key) in cases {
            let file = dir.path().join("phonehook.toml");
            std::fs::write(&file, text)?;
            let err = Config::load(Some(&file))
                .err()
                .ok_or("a bad file is refused")?
                .to_string();
            assert!(err.contains(key), "{text}: {err}");
            assert!(!err.contains("default."), "{text}: {err}");
            assert!(err.contains("phonehook.toml"), "names the file: {err}");
        }
        Ok(())
    }
}
