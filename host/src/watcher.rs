//! Watching the plugin directory and the configuration file.
//!
//! The directory is watched, not the files: files arrive by `cp` over the old
//! one, by a temporary file renamed into place, by `install`, or by cargo's
//! remove-then-hard-link, and each produces a different burst of events. So the
//! watcher ignores what the events say and, once a path has been quiet for the
//! debounce window, looks at the file itself: gone means removed; present means
//! wait until its modification time is `settle_ms` old, then load it through
//! the same [`Registry::load_path`] as start-up (an unchanged hash is no
//! reload, a half-written file fails the ELF check and is retried when the
//! writer's next events arrive).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use notify_debouncer_full::notify::{self, RecursiveMode};
use notify_debouncer_full::{new_debouncer, new_debouncer_opt, DebounceEventResult, NoCache};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{Config, WatchConfig};
use crate::plugins::{LoadOutcome, PluginFile, Registry};

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {path}: {source}")]
pub struct WatchError {
    path: PathBuf,
    source: notify::Error,
}

/// A running watcher; dropping it stops watching.
pub struct Watcher {
    _debouncer: std::sync::Mutex<Box<dyn std::any::Any + Send>>,
    task: JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What changed, as the loop below sees it.
struct Targets {
    plugin_dir: PathBuf,
    config_file: Option<PathBuf>,
}

impl Targets {
    fn dirs(&self) -> BTreeSet<PathBuf> {
        let mut dirs = BTreeSet::from([self.plugin_dir.clone()]);
        if let Some(dir) = self.config_file.as_deref().and_then(Path::parent) {
            dirs.insert(dir.to_path_buf());
        }
        dirs
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Starts watching the plugin directory (and the configuration file, when the
/// configuration came from one).
pub fn start(registry: Arc<Registry>, config: &Config) -> Result<Watcher, WatchError> {
    let cfg = config.watch.clone();
    let targets = Targets {
        plugin_dir: absolute(&config.plugin_dir),
        config_file: config.source.as_deref().map(|f| {
            let dir = f.parent().map(absolute).unwrap_or_default();
            dir.join(f.file_name().unwrap_or_default())
        }),
    };
    let (tx, rx) = mpsc::unbounded_channel::<Vec<PathBuf>>();
    let handler = move |result: DebounceEventResult| match result {
        Ok(events) => {
            let paths = events.into_iter().flat_map(|e| e.event.paths).collect();
            let _ = tx.send(paths);
        }
        Err(errors) => {
            for e in errors {
                tracing::warn!(error = %e, "file watch error");
            }
        }
    };
    let debounce = Duration::from_millis(cfg.debounce_ms.max(10));
    let debouncer = watch_dirs(&targets.dirs(), debounce, &cfg, handler)?;
    let task = tokio::spawn(run(
        rx,
        registry,
        targets,
        Duration::from_millis(cfg.settle_ms),
    ));
    Ok(Watcher {
        _debouncer: std::sync::Mutex::new(debouncer),
        task,
    })
}

fn watch_dirs(
    dirs: &BTreeSet<PathBuf>,
    debounce: Duration,
    cfg: &WatchConfig,
    handler: impl notify_debouncer_full::DebounceEventHandler,
) -> Result<Box<dyn std::any::Any + Send>, WatchError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WatchError { path, source }
    };
    let first = dirs.iter().next().cloned().unwrap_or_default();
    if cfg.poll_interval_ms > 0 {
        let notify_cfg = notify::Config::default()
            .with_poll_interval(Duration::from_millis(cfg.poll_interval_ms))
            .with_compare_contents(false);
        let mut d = new_debouncer_opt::<_, notify::PollWatcher, NoCache>(
            debounce, None, handler, NoCache, notify_cfg,
        )
        .map_err(err(&first))?;
        for dir in dirs {
            d.watch(dir, RecursiveMode::NonRecursive)
                .map_err(err(dir))?;
        }
        Ok(Box::new(d))
    } else {
        let mut d = new_debouncer(debounce, None, handler).map_err(err(&first))?;
        for dir in dirs {
            d.watch(dir, RecursiveMode::NonRecursive)
                .map_err(err(dir))?;
        }
        Ok(Box::new(d))
    }
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<Vec<PathBuf>>,
    registry: Arc<Registry>,
    targets: Targets,
    settle: Duration,
) {
    while let Some(first) = rx.recv().await {
        let mut paths: BTreeSet<PathBuf> = first.into_iter().collect();
        while let Ok(more) = rx.try_recv() {
            paths.extend(more);
        }
        let config_changed = targets
            .config_file
            .as_ref()
            .is_some_and(|c| paths.contains(c));
        let plugin_paths: Vec<PathBuf> = paths
            .into_iter()
            .filter(|p| {
                p.parent() == Some(targets.plugin_dir.as_path()) && PluginFile::is_candidate(p)
            })
            .collect();
        for path in plugin_paths {
            let registry = registry.clone();
            let _ = tokio::task::spawn_blocking(move || settle_and_load(&registry, &path, settle))
                .await;
        }
        if let (true, Some(file)) = (config_changed, targets.config_file.clone()) {
            let registry = registry.clone();
            let _ = tokio::task::spawn_blocking(move || apply_config(&registry, &file)).await;
        }
    }
}

/// Waits until the file has not been modified for `settle`, then loads it.
fn settle_and_load(registry: &Registry, path: &Path, settle: Duration) {
    // A writer that stalls longer than this is treated as finished; the ELF
    // check then refuses the file if it really is incomplete.
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let Ok(meta) = std::fs::metadata(path) else {
            registry.file_removed(path);
            return;
        };
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or(settle);
        if age >= settle || std::time::Instant::now() >= give_up {
            break;
        }
        std::thread::sleep(settle - age);
    }
    match registry.load_path(path) {
        Ok(LoadOutcome::Loaded { name, generation }) => {
            crate::metrics::plugin_reload(&name, true);
            tracing::info!(plugin = %name, generation, file = %path.display(), "plugin reloaded");
        }
        Ok(LoadOutcome::Unchanged) => {
            tracing::debug!(file = %path.display(), "plugin file unchanged; no reload");
        }
        Err(e) => {
            // A refused file may have no readable manifest: label it by file.
            let file = path.file_name().unwrap_or_default().to_string_lossy();
            crate::metrics::plugin_reload(&file, false);
            tracing::warn!(file = %path.display(), code = e.code(), error = %e,
                "plugin file refused; the loaded version keeps serving");
        }
    }
}

/// Applies a changed configuration file: plugin settings and secrets, and the
/// active plugin (refused, like the admin API, when it is not usable).
fn apply_config(registry: &Registry, file: &Path) {
    let config = match Config::load(Some(file)) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "configuration change ignored");
            return;
        }
    };
    registry.set_configs(config.plugins.clone());
    crate::server::warn_unknown_plugin_tables(registry, &config.plugins);
    if let Some(name) = config.active_plugin {
        if registry.active_name().as_deref() != Some(name.as_str()) {
            match registry.activate(&name, true) {
                Ok(a) => {
                    tracing::info!(plugin = %a.name, generation = a.generation, "active plugin changed by the configuration file")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "configuration names an active plugin that cannot be activated; keeping the current one")
                }
            }
        }
    }
    tracing::info!(file = %file.display(), "configuration reloaded (plugin settings, secrets and the active plugin)");
}
