//! Starting and stopping the server: stage, load every plugin in the plugin
//! directory, activate the configured one, bind, serve; on shutdown, stop
//! accepting and let messages in flight finish.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{Config, ConfigError};
use crate::control::{Control, UnknownConfigured};
use crate::deliverylog::{DeliveryLog, LogError};
use crate::egress::{Egress, EgressSetupError};
use crate::fleet::{Fleet, Identity};
use crate::plugins::{check_trusted, PermissionError, PluginFile, Registry, Staging};
use crate::state::AppState;
use crate::store::{Postgres, StoreKind};
use crate::watcher::{WatchError, Watcher};

/// Why the server could not start.
///
/// Each variant keeps the typed error it comes from. Causes are part of the
/// message and deliberately not `#[source]`: the CLI prints the whole chain
/// (`{:#}`), which would say the cause twice (`WatchError`, `LogError` and
/// `EgressSetupError` already print theirs).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The plugin directory is missing or unreadable.
    #[error("cannot read the plugin directory {}: {error}", path.display())]
    PluginDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The plugin directory holds no plugin library at all (`phonehook
    /// serve` in the source tree finds the source folder `plugins/`).
    #[error("the plugin directory {} holds no plugin libraries (*.so): build them with `cargo build` and serve them with `--plugin-dir target/debug`, or point plugin_dir at the directory that holds them", .0.display())]
    NoPlugins(PathBuf),
    /// The configured active plugin is not among the loaded ones (a typo,
    /// or the wrong plugin directory): every message would get 503.
    #[error("cannot activate `{name}`: no loaded plugin has that name (loaded from {}: {known})", dir.display())]
    UnknownActive {
        /// The name configured.
        name: String,
        /// The plugin directory.
        dir: PathBuf,
        /// The loaded plugins' names.
        known: String,
    },
    /// The staging directory could not be created.
    #[error(transparent)]
    Staging(#[from] crate::plugins::StagingError),
    /// The listen address is taken or not allowed.
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the vendor HTTP client: {0}")]
    Egress(EgressSetupError),
    /// Invalid configuration.
    #[error("{0}")]
    Config(ConfigError),
    /// A non-loopback address without two usable tokens.
    #[error("refusing to listen on {addr} without both send_token and admin_token configured ({problem}): anyone who can reach it could send codes and swap providers. Set both to random values of at least 16 characters (PHONEHOOK_SEND_TOKEN, PHONEHOOK_ADMIN_TOKEN) or listen on 127.0.0.1")]
    Insecure {
        /// The address.
        addr: SocketAddr,
        /// Which token is missing or too short.
        problem: String,
    },
    /// The plugin directory can be written by other users.
    #[error("refusing to load plugins: {0}")]
    Untrusted(PermissionError),
    /// The watcher could not start.
    #[error("{0}")]
    Watch(WatchError),
    /// The delivery log could not start.
    #[error("{0}")]
    Log(LogError),
    /// The shared store could not be reached or migrated at start.
    #[error("{0}")]
    Store(crate::store::StoreError),
    /// A start-up step run off the async runtime panicked (a bug, or a
    /// plugin whose constructor panicked): not the configuration's fault.
    #[error("{task} panicked: {error}")]
    Panicked {
        /// What was being done (`plugin loading`, ...).
        task: &'static str,
        /// The panic, as the runtime reports it.
        error: tokio::task::JoinError,
    },
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    state: Arc<AppState>,
    _watcher: Option<Watcher>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// Loads every plugin file in `dir` into `registry`; failures are logged and
/// recorded, never fatal. Returns how many plugin files the directory holds.
pub fn load_dir(registry: &Registry, dir: &Path) -> Result<usize, StartError> {
    if dir.exists() {
        check_trusted(dir).map_err(StartError::Untrusted)?;
    }
    let entries = std::fs::read_dir(dir).map_err(|error| StartError::PluginDir {
        path: dir.to_path_buf(),
        error,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| PluginFile::is_candidate(p))
        .collect();
    paths.sort();
    for path in &paths {
        if let Err(e) = registry.load_path(path) {
            tracing::warn!(file = %path.display(), code = e.code(), error = %e, "plugin refused");
        }
    }
    Ok(paths.len())
}

/// Warns about `[plugins.NAME]` tables for plugins that are not loaded (a
/// typo such as `acmee` would otherwise configure nothing, silently). At
/// start and on every reload of the configuration file.
pub fn warn_unknown_plugin_tables(
    registry: &Registry,
    configs: &std::collections::BTreeMap<String, crate::config::PluginConfig>,
) {
    let loaded: Vec<String> = registry
        .status()
        .into_iter()
        .filter(|p| p.info.is_some())
        .map(|p| p.name)
        .collect();
    for name in configs.keys().filter(|n| !loaded.contains(n)) {
        tracing::warn!(plugin = %name, loaded = ?loaded,
            "the configuration has a [plugins.NAME] table for a plugin that is not loaded; it configures nothing");
    }
}

/// Builds the registry and loads the plugin directory (blocking work). No
/// plugin is active yet: that is [`Control::start`]'s decision.
pub fn build_registry(config: &Config) -> Result<Arc<Registry>, StartError> {
    let staging = Staging::new(config.staging_dir.as_deref())?;
    let registry = Arc::new(Registry::new(staging, config.plugins.clone()));
    if load_dir(&registry, &config.plugin_dir)? == 0 {
        return Err(StartError::NoPlugins(config.plugin_dir.clone()));
    }
    warn_unknown_plugin_tables(&registry, &config.plugins);
    Ok(registry)
}

/// Loads the plugins and activates the one that should serve (blocking).
fn build_control(config: &Config, log: DeliveryLog) -> Result<Arc<Control>, StartError> {
    let registry = build_registry(config)?;
    let control = Control::start(registry, log, config.active_plugin.clone()).map_err(
        |UnknownConfigured { name, known }| StartError::UnknownActive {
            name,
            dir: config.plugin_dir.clone(),
            known,
        },
    )?;
    control.configure_fallback(config.fallback.clone());
    Ok(Arc::new(control))
}

/// Shortest token accepted on a non-loopback address, in characters.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Without tokens anyone who reaches the port can send and administer, so
/// only this machine may reach it. A blank token counts as none (see
/// [`Config::send_token`]), and beyond loopback a short one counts as none
/// too: it can be guessed.
fn check_exposure(config: &Config) -> Result<(), StartError> {
    let loopback = config.listen.ip().is_loopback();
    let tokens = [
        ("send_token", config.send_token()),
        ("admin_token", config.admin_token()),
    ];
    for (name, token) in tokens {
        let problem = match token {
            None => format!("{name} is not set (an empty or blank value is no token)"),
            Some(t) if t.chars().count() < MIN_TOKEN_CHARS => {
                format!("{name} is shorter than {MIN_TOKEN_CHARS} characters")
            }
            Some(_) => continue,
        };
        if !loopback {
            return Err(StartError::Insecure {
                addr: config.listen,
                problem,
            });
        }
        match token {
            None => tracing::warn!(listen = %config.listen, token = name,
                "token not configured: listening on loopback only, and anyone on this machine can use its routes"),
            Some(_) => tracing::warn!(
                token = name,
                min_chars = MIN_TOKEN_CHARS,
                "token is short; use a long random value"
            ),
        }
    }
    Ok(())
}

/// The shared store's part of starting: connect and migrate, open the log
/// there, read (or seed) the control row, then load the plugins and apply
/// it. An unreachable database stops the start: an instance with no state
/// to fall back on must not serve as if it were part of the fleet.
async fn start_shared(
    config: &Config,
    url: &crate::store::PgUrl,
) -> Result<(DeliveryLog, Arc<Control>, Postgres, Identity), StartError> {
    let pg = Postgres::connect(url).await.map_err(StartError::Store)?;
    let log = DeliveryLog::open_postgres(&config.log, &pg)
        .await
        .map_err(StartError::Log)?;
    let me = Identity::new(config.instance_name.as_deref(), config.listen.port());
    let row = Fleet::control_row(
        &pg,
        &me,
        config.active_plugin.clone(),
        config.fallback.clone(),
    )
    .await
    .map_err(StartError::Store)?;
    let cfg = config.clone();
    let control = tokio::task::spawn_blocking(move || {
        let registry = build_registry(&cfg)?;
        Ok::<_, StartError>(Arc::new(Control::start_shared(
            registry,
            &row,
            cfg.active_plugin.clone(),
            cfg.fallback.clone(),
        )))
    })
    .await
    .map_err(|error| StartError::Panicked {
        task: "plugin loading",
        error,
    })??;
    Ok((log, control, pg, me))
}

/// Opens the delivery log (blocking file work, off the runtime). An
/// unwritable database does not stop the server; see `deliverylog`.
async fn open_log(config: &Config) -> Result<DeliveryLog, StartError> {
    let cfg = config.log.clone();
    tokio::task::spawn_blocking(move || DeliveryLog::open(&cfg))
        .await
        .map_err(|error| StartError::Panicked {
            task: "opening the delivery log",
            error,
        })?
        .map_err(StartError::Log)
}

fn self_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

impl Server {
    /// Loads plugins, binds and starts serving in the background.
    pub async fn start(mut config: Config) -> Result<Server, StartError> {
        let rules = config.rules().map_err(StartError::Config)?;
        check_exposure(&config)?;
        let egress = Egress::new(&config.vendor).map_err(StartError::Egress)?;
        // Once, so that every file is known by one path however the directory
        // was spelled (`plugins`, `./plugins`, absolute); the watcher reports
        // canonical paths.
        if let Ok(dir) = std::fs::canonicalize(&config.plugin_dir) {
            config.plugin_dir = dir;
        }
        let (log, control, joining) = match config.store.clone() {
            StoreKind::Sqlite => {
                // Before the plugins are activated: the log's database holds
                // the active plugin chosen through the API.
                let log = open_log(&config).await?;
                let (cfg, for_control) = (config.clone(), log.clone());
                let control = tokio::task::spawn_blocking(move || build_control(&cfg, for_control))
                    .await
                    .map_err(|error| StartError::Panicked {
                        task: "plugin loading",
                        error,
                    })??;
                (log, control, None)
            }
            StoreKind::Postgres(url) => {
                let (log, control, pg, me) = start_shared(&config, &url).await?;
                (log, control, Some((pg, me)))
            }
        };
        // Before the first request, so `GET /metrics` lists every metric's help.
        crate::metrics::handle();
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|error| StartError::Bind {
                    addr: config.listen,
                    error,
                })?;
        let addr = listener.local_addr().map_err(|error| StartError::Bind {
            addr: config.listen,
            error,
        })?;
        let fleet = match joining {
            Some((pg, me)) => {
                Some(Fleet::start(pg, me.on_port(addr.port()), control.clone()).await)
            }
            None => None,
        };
        let state = Arc::new(AppState::new(
            config,
            control,
            egress,
            rules,
            log,
            self_url(addr),
            fleet,
        ));
        let watcher = if state.config.watch.enabled {
            let w = crate::watcher::start(state.control.clone(), &state.config)
                .map_err(StartError::Watch)?;
            Some(w)
        } else {
            None
        };
        let app = crate::api::router(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let limits = crate::accept::ConnectionLimits::from_config(&state.config.limits);
        let task = tokio::spawn(crate::accept::serve(listener, app, limits, async {
            let _ = stopped.await;
        }));
        tracing::info!(%addr, "phonehook listening");
        Ok(Server {
            addr,
            state,
            _watcher: watcher,
            stop: Some(stop),
            task,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Shared state (tests and the CLI inspect it).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Stops accepting connections, waits for requests in flight and for
    /// send attempts whose caller left, then writes every delivery log event
    /// they recorded.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(()) => tracing::info!("phonehook stopped"),
            Err(e) => tracing::error!(error = %e, "server task failed"),
        }
        // No connection is left to start an attempt; each one still running
        // ends by its vendor deadline.
        self.state.attempts.close();
        self.state.attempts.wait().await;
        if let Some(fleet) = &self.state.fleet {
            fleet.leave().await;
        }
        self.state.log.close().await;
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) {
        shutdown_signal().await;
        tracing::info!("shutdown requested; finishing messages in flight");
        self.shutdown().await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: &str = "0123456789abcdef";

    fn config(listen: &str, send: Option<&str>, admin: Option<&str>) -> Config {
        Config {
            listen: listen.parse().unwrap_or_else(|_| Config::default().listen),
            send_token: send.map(str::to_owned),
            admin_token: admin.map(str::to_owned),
            ..Config::default()
        }
    }

    #[test]
    fn beyond_loopback_both_tokens_must_be_long_and_not_blank() {
        let cases = [
            // (listen, send_token, admin_token, starts)
            ("0.0.0.0:8080", Some(LONG), Some(LONG), true),
            ("0.0.0.0:8080", None, None, false),
            ("0.0.0.0:8080", Some(""), Some(""), false),
            ("0.0.0.0:8080", Some(" "), Some(LONG), false),
            ("0.0.0.0:8080", Some(LONG), Some("\t \n"), false),
            ("0.0.0.0:8080", Some(LONG), Some("short-token"), false),
            // Blanks around a token do not count towards its length.
            (
                "0.0.0.0:8080",
                Some(LONG),
                Some("   0123456789abcde   "),
                false,
            ),
            ("[::]:8080", Some(""), Some(LONG), false),
            // Loopback: missing, blank or short tokens only warn.
            ("127.0.0.1:8080", None, None, true),
            ("127.0.0.1:8080", Some(""), Some(" "), true),
            ("127.0.0.1:8080", Some("short"), Some(LONG), true),
            ("[::1]:8080", None, Some(LONG), true),
        ];
        for (listen, send, admin, starts) in cases {
            let result = check_exposure(&config(listen, send, admin));
            assert_eq!(
                result.is_ok(),
                starts,
                "{listen} send={send:?} admin={admin:?}: {result:?}"
            );
        }
    }

    #[test]
    fn the_refusal_names_the_token_and_why() {
        let err = check_exposure(&config("0.0.0.0:8080", Some(LONG), Some(" ")))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("admin_token is not set") && err.contains("0.0.0.0:8080"),
            "{err}"
        );
    }

    #[test]
    fn start_errors_say_each_cause_once() {
        let cases = [
            (
                StartError::Config(ConfigError::Invalid("listen: bad".into())),
                "invalid configuration: listen: bad",
            ),
            (
                StartError::Log(LogError::Database {
                    path: PathBuf::from("/x/log.db"),
                    source: rusqlite::Error::InvalidQuery,
                }),
                "delivery log database /x/log.db: Query is not read-only",
            ),
        ];
        for (error, expected) in cases {
            // What the CLI prints: the error and its whole source chain.
            assert_eq!(format!("{:#}", anyhow::Error::from(error)), expected);
        }
    }

    #[test]
    fn a_blank_token_is_no_token_and_blanks_around_one_are_ignored() {
        let c = config("127.0.0.1:8080", Some("  "), Some(" secret-admin-token\n"));
        assert_eq!(c.send_token(), None);
        assert_eq!(c.admin_token(), Some("secret-admin-token"));
    }
}
